//! The `passerelle` command.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use passerelle::{
    appservice::{self, AppState},
    config::{Config, LogFormat},
    doctor, registration,
    runtime::Runtime,
    store::Store,
};
use tracing_subscriber::EnvFilter;

/// passerelle: bridges Matrix rooms to email, XMPP and SMS.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file.
    #[arg(
        short,
        long,
        global = true,
        default_value = "config.yaml",
        env = "PASSERELLE_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the appservice until SIGTERM or SIGINT (the default).
    Run,
    /// Write the homeserver registration file; fills in tokens still holding placeholders.
    GenerateRegistration {
        /// Where to write the registration.
        #[arg(short, long, default_value = "registration.yaml")]
        output: PathBuf,
        /// Replace the tokens even if they are already set.
        #[arg(long)]
        new_tokens: bool,
    },
    /// Check the configuration, the registration, the homeserver and every connector.
    Doctor {
        /// The registration file the homeserver loads.
        #[arg(short, long, default_value = "registration.yaml")]
        registration: PathBuf,
    },
    /// Import a WhatsApp or Telegram group export into a new Matrix room.
    #[command(subcommand)]
    Import(passerelle::import::cli::ImportCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(&cli.config),
        Command::GenerateRegistration { output, new_tokens } => {
            generate_registration(&cli.config, &output, new_tokens)
        }
        Command::Doctor { registration } => return doctor(&cli.config, &registration),
        Command::Import(command) => {
            passerelle::import::cli::execute(&cli.config, command).map_err(anyhow::Error::msg)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("passerelle: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    init_logging(&config)?;
    let problems = config.validate();
    if !problems.is_empty() {
        let list: Vec<String> = problems
            .iter()
            .map(|p| format!("  {}: {p}", config_path.display()))
            .collect();
        bail!("the configuration has problems:\n{}", list.join("\n"));
    }
    let placeholders = config.placeholders();
    if !placeholders.is_empty() {
        bail!(
            "{}: {} still hold placeholder values; run `passerelle generate-registration -c {}` first",
            config_path.display(),
            placeholders.join(" and "),
            config_path.display()
        );
    }
    runtime()?.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let store = Store::open(&config.database.path, config.database.max_connections)
        .await
        .with_context(|| format!("database.path {}", config.database.path.display()))?;
    let bind = config.appservice.bind;
    let config = Arc::new(config);
    let runtime = Runtime::new(config.clone(), store)?;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!("appservice.bind {bind}: cannot listen (is another passerelle running?)")
    })?;
    tracing::info!(address = %bind, version = env!("CARGO_PKG_VERSION"), "passerelle listening for the homeserver.");
    runtime
        .open_portals()
        .await
        .context("reading the portals")?;
    let mut tasks = runtime.start();
    let shutdown = runtime.shutdown_token();
    if let Some(bind) = config.metrics.bind {
        // Bound before serving, so a taken port stops the start with a clear message.
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("metrics.bind {bind}: cannot listen"))?;
        tasks.push(tokio::spawn(passerelle::metrics::serve(
            listener,
            shutdown.clone(),
        )));
        tasks.push(tokio::spawn(passerelle::metrics::refresh(
            runtime.store().clone(),
            std::time::Duration::from_secs(5),
            shutdown.clone(),
        )));
    }
    let app = appservice::router(AppState {
        runtime: runtime.clone(),
    });
    let server = axum::serve(listener, app).with_graceful_shutdown({
        let shutdown = shutdown.clone();
        async move {
            wait_for_signal().await;
            tracing::info!("Shutting down: finishing in-flight requests and queue items.");
            shutdown.cancel();
        }
    });
    server.await.context("appservice server")?;
    runtime.stop();
    let drain = async {
        futures_util::future::join_all(tasks).await;
        runtime.drained().await;
    };
    if tokio::time::timeout(appservice::SHUTDOWN_GRACE, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            "Some tasks did not stop in time; their items stay queued for the next start."
        );
    }
    runtime.store().close().await;
    tracing::info!("Stopped.");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("PASSERELLE_LOG")
        .or_else(|_| EnvFilter::try_new(&config.logging.level))
        .with_context(|| {
            format!(
                "logging.level `{}` is not a valid filter",
                config.logging.level
            )
        })?;
    // Colours only on a terminal, never in a log file or the journal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match config.logging.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

fn generate_registration(
    config_path: &Path,
    output: &Path,
    new_tokens: bool,
) -> anyhow::Result<()> {
    let mut config = Config::load(config_path)?;
    let problems: Vec<_> = config.validate();
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        bail!(
            "{}: fix these first:\n{}",
            config_path.display(),
            list.join("\n")
        );
    }
    let aps = &mut config.appservice;
    let mut rewrote = false;
    if new_tokens || aps.as_token.is_placeholder() || aps.hs_token.is_placeholder() {
        aps.as_token = registration::random_token();
        aps.hs_token = registration::random_token();
        registration::write_tokens(config_path, &aps.as_token, &aps.hs_token)
            .map_err(anyhow::Error::msg)?;
        rewrote = true;
    }
    let reg = registration::build(&config).map_err(anyhow::Error::msg)?;
    let yaml = registration::to_yaml(&reg).map_err(anyhow::Error::msg)?;
    std::fs::write(output, yaml).with_context(|| format!("cannot write {}", output.display()))?;
    if rewrote {
        println!(
            "Wrote new as_token and hs_token into {}.",
            config_path.display()
        );
    }
    println!(
        "Wrote {}. Add it to the homeserver's app_service_config_files and restart the homeserver.",
        output.display()
    );
    Ok(())
}

fn doctor(config_path: &Path, registration_path: &Path) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("passerelle: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let checks = rt.block_on(doctor::run(config_path, registration_path));
    let mut failed = 0;
    for check in &checks {
        println!("{}", check.render());
        if !check.ok {
            failed += 1;
        }
    }
    if failed == 0 {
        println!("All {} checks passed.", checks.len());
        ExitCode::SUCCESS
    } else {
        println!("{failed} of {} checks failed.", checks.len());
        ExitCode::FAILURE
    }
}
