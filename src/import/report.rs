//! The human-readable report: counts per kind and sender, the sender mapping, warnings and,
//! after a real import, what was sent. Printed at the end and posted in the room.

use std::{collections::BTreeMap, fmt::Write};

use super::{Export, Kind};

/// What a real import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The room the history went to.
    pub room_id: String,
    /// Messages sent by this run.
    pub sent: usize,
    /// Messages already sent by an earlier run (found in the ledger).
    pub already: usize,
    /// True if the run stopped early (`--limit`) and a re-run will continue.
    pub partial: bool,
    /// Problems met while sending (media missing from the export, …).
    pub problems: Vec<String>,
}

/// Renders the report. `who` gives, per sender id, the Matrix user standing for it.
pub fn render(
    export: &Export,
    origin: &str,
    who: &BTreeMap<String, String>,
    warnings: &[String],
    outcome: Option<&Outcome>,
) -> String {
    let mut out = String::new();
    let chat = export
        .chat_name
        .as_deref()
        .map_or_else(String::new, |n| format!(" \"{n}\""));
    let _ = writeln!(
        out,
        "{} export{chat} ({origin}): {} messages",
        export.source.display(),
        export.messages.len()
    );
    let mut kinds: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut per_sender: BTreeMap<&str, usize> = BTreeMap::new();
    for m in &export.messages {
        *kinds.entry(m.kind).or_default() += 1;
        if m.kind != Kind::System
            && let Some(id) = &m.sender_id
        {
            *per_sender.entry(id.as_str()).or_default() += 1;
        }
    }
    let counts: Vec<String> = [Kind::Text, Kind::Media, Kind::Deleted, Kind::System]
        .iter()
        .map(|k| format!("{} {}", k.as_str(), kinds.get(k).copied().unwrap_or(0)))
        .collect();
    let _ = writeln!(out, "  {}", counts.join(", "));
    let omitted = export.messages.iter().filter(|m| m.omitted).count();
    if omitted > 0 {
        let _ = writeln!(out, "  media left out of the export: {omitted}");
    }
    if let Some(exporter) = &export.exporter {
        let _ = writeln!(out, "  exporter (\"You\"): {exporter}");
    }
    let _ = writeln!(out, "Senders:");
    for (id, name) in &export.senders {
        let n = per_sender.get(id.as_str()).copied().unwrap_or(0);
        match who.get(id) {
            Some(user) => {
                let _ = writeln!(out, "  {name}: {n} messages → {user}");
            }
            None => {
                let _ = writeln!(out, "  {name}: {n} messages");
            }
        }
    }
    let all: Vec<&String> = export.warnings.iter().chain(warnings).collect();
    if !all.is_empty() {
        let _ = writeln!(out, "Warnings ({}):", all.len());
        for w in all {
            let _ = writeln!(out, "  - {w}");
        }
    }
    if let Some(o) = outcome {
        let _ = writeln!(
            out,
            "Room {}: {} messages sent now, {} already sent before{}",
            o.room_id,
            o.sent,
            o.already,
            if o.partial {
                "; stopped early, run the same command again to continue"
            } else {
                ""
            }
        );
        for p in &o.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Outcome, render};
    use crate::import::whatsapp::{Options, parse};

    #[test]
    fn the_report_counts_kinds_and_senders_and_lists_warnings() {
        let text = "18/03/2022, 14:56 - Ann: hi\n\
                    18/03/2022, 14:57 - Ann: <Media omitted>\n\
                    18/03/2022, 14:58 - Bo: This message was deleted\n\
                    18/03/2022, 14:59 - Ann added Bo\n";
        let o = Options {
            timezone: "UTC".into(),
            chat_name: Some("Trip".into()),
            ..Options::default()
        };
        let export = parse(text, "chat.txt", &o).expect("parses");
        let who = BTreeMap::from([("Bo".to_owned(), "@bo:example.org".to_owned())]);
        let outcome = Outcome {
            room_id: "!r:example.org".into(),
            sent: 3,
            already: 1,
            partial: true,
            problems: vec!["x.jpg is not in the export".into()],
        };
        let report = render(
            &export,
            "chat.txt",
            &who,
            &["extra".to_owned()],
            Some(&outcome),
        );
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines[0], "WhatsApp export \"Trip\" (chat.txt): 4 messages");
        assert_eq!(lines[1], "  text 1, media 1, deleted 1, system 1");
        assert_eq!(lines[2], "  media left out of the export: 1");
        assert!(
            report.contains("\nSenders:\n  Ann: 2 messages\n  Bo: 1 messages → @bo:example.org\n"),
            "{report}"
        );
        assert!(report.contains("  - extra\n"), "{report}");
        assert!(report.contains(
            "Room !r:example.org: 3 messages sent now, 1 already sent before; stopped early, run the same command again to continue\n  - x.jpg is not in the export\n"
        ), "{report}");
    }
}
