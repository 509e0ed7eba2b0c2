//! `passerelle import whatsapp|telegram …`: the command-line side of the import.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use ruma::{OwnedUserId, UserId};

use super::{
    ImportError, dry_run, report,
    run::{self, Plan},
    senders::SenderMap,
    source::{self, Loaded},
    telegram,
    whatsapp::{self, DateOrder},
};
use crate::config::Config;

/// Which export to import.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a WhatsApp "Export chat" (the .txt transcript, or the .zip with media).
    Whatsapp(WhatsappArgs),
    /// Import a Telegram Desktop JSON export (result.json, its folder, or a zip of it).
    Telegram(TelegramArgs),
}

/// Options of `import whatsapp`.
#[derive(Debug, Args)]
pub struct WhatsappArgs {
    /// The export: `WhatsApp Chat with ….txt`, `_chat.txt`, or the `.zip`.
    pub path: PathBuf,
    /// IANA time zone of the phone that made the export, e.g. Europe/Paris.
    #[arg(long)]
    pub timezone: String,
    /// The exporter's display name ("You" in system lines); inferred when possible.
    #[arg(long)]
    pub exporter: Option<String>,
    /// Date order of the transcript, when the detection guesses wrong: dmy or mdy.
    #[arg(long, value_parser = parse_order)]
    pub date_order: Option<DateOrder>,
    #[command(flatten)]
    /// Options shared with `import telegram`.
    pub common: CommonArgs,
}

/// Options of `import telegram`.
#[derive(Debug, Args)]
pub struct TelegramArgs {
    /// The export: `result.json`, the `ChatExport_…` folder, or a zip of that folder.
    pub path: PathBuf,
    /// IANA time zone of the exporting computer; needed only for exports older than June 2022.
    #[arg(long)]
    pub timezone: Option<String>,
    #[command(flatten)]
    /// Options shared with `import whatsapp`.
    pub common: CommonArgs,
}

/// Options of both imports.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Name of the new room (default: the chat's name).
    #[arg(long)]
    pub room_name: Option<String>,
    /// YAML file mapping senders to existing Matrix users (`"Name": "@user:server"`).
    #[arg(long = "map")]
    pub map: Option<PathBuf>,
    /// Matrix users to invite once the history is in (repeatable).
    #[arg(long, num_args = 1..)]
    pub invite: Vec<String>,
    /// Parse and report only; touch no server.
    #[arg(long)]
    pub dry_run: bool,
    /// Output of the dry run and the report: text or json.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Send at most this many messages, then stop; running the command again continues.
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable report.
    Text,
    /// The dry-run JSON document (see the README).
    Json,
}

fn parse_order(s: &str) -> Result<DateOrder, String> {
    s.parse()
}

/// Runs an import command; what to print on success is printed here.
pub fn execute(config_path: &Path, command: ImportCommand) -> Result<(), ImportError> {
    let (loaded, common) = match command {
        ImportCommand::Whatsapp(a) => {
            let opts = whatsapp::Options {
                timezone: a.timezone,
                date_order: a.date_order,
                exporter: a.exporter,
                chat_name: None,
            };
            (source::load_whatsapp(&a.path, &opts)?, a.common)
        }
        ImportCommand::Telegram(a) => {
            let opts = telegram::Options {
                timezone: a.timezone,
            };
            (source::load_telegram(&a.path, &opts)?, a.common)
        }
    };
    let map = match &common.map {
        Some(path) => SenderMap::load(path)?,
        None => SenderMap::default(),
    };
    let mut warnings: Vec<String> = map
        .unmatched(&loaded.export)
        .into_iter()
        .map(|k| format!("sender map: {k:?} matches no sender of this export"))
        .collect();
    let invite = common
        .invite
        .iter()
        .map(|u| {
            UserId::parse(u.as_str()).map_err(|e| {
                ImportError(format!(
                    "--invite {u}: not a Matrix user id ({e}); write it as @user:server"
                ))
            })
        })
        .collect::<Result<Vec<OwnedUserId>, _>>()?;
    if common.dry_run {
        print_dry_run(&loaded, &map, &warnings, common.format);
        return Ok(());
    }
    let config = Config::load(config_path)
        .map_err(|e| ImportError(format!("{}: {e}", config_path.display())))?;
    let placeholders = config.placeholders();
    if !placeholders.is_empty() {
        return Err(ImportError(format!(
            "{}: {} still hold placeholder values; run `passerelle generate-registration` first",
            config_path.display(),
            placeholders.join(" and ")
        )));
    }
    warnings.shrink_to_fit();
    let plan = Plan {
        room_name: common.room_name,
        map,
        invite,
        limit: common.limit,
        warnings,
    };
    let format = common.format;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ImportError(format!("cannot start the async runtime: {e}")))?;
    let text = runtime.block_on(run::import(&config, loaded, plan))?;
    match format {
        Format::Text => print!("{text}"),
        Format::Json => println!("{}", serde_json::json!({"report": text})),
    }
    Ok(())
}

fn print_dry_run(loaded: &Loaded, map: &SenderMap, warnings: &[String], format: Format) {
    match format {
        Format::Json => {
            let doc = dry_run::document(&loaded.export, warnings);
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
            );
        }
        Format::Text => {
            let who = loaded
                .export
                .senders
                .iter()
                .filter_map(|(id, name)| map.get(id, name).map(|u| (id.clone(), u.to_string())))
                .collect();
            print!(
                "{}",
                report::render(&loaded.export, &loaded.origin, &who, warnings, None)
            );
        }
    }
}
