//! WhatsApp "Export chat" transcripts (Android and iOS) to an [`Export`].
//!
//! One header style per file, chosen by majority vote; lines that do not start with a header
//! of that style continue the previous message. Authors are split off only where the name
//! before `: ` has no quote characters; other headers are system lines (Android). On iOS a line
//! whose author is the chat name and whose body starts with U+200E is a system line.

mod body;
mod dates;
mod header;
mod system;

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

pub use self::dates::DateOrder;
use self::header::{Style, strip_marks};
use super::{
    Attachment, Export, ImportError, Kind, Message, SourceKind, err,
    timezone::{Reading, Resolver},
};

/// Longest line accepted in a transcript; WhatsApp messages are far shorter.
pub const MAX_LINE: usize = 1024 * 1024;

/// What the operator tells the parser.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// IANA zone of the exporting phone (`Europe/Paris`).
    pub timezone: String,
    /// Date order, if the operator overrides the detection.
    pub date_order: Option<DateOrder>,
    /// The exporter's display name, to which "You" in system lines refers.
    pub exporter: Option<String>,
    /// The chat's name, from the export's file name.
    pub chat_name: Option<String>,
}

/// A message as cut from the transcript, before its body is interpreted.
struct Raw<'a> {
    line: usize,
    wall: jiff::civil::DateTime,
    rest: &'a str,
    more: Vec<&'a str>,
}

/// Characters that never occur in an author name but do in quoted subjects and group names.
const QUOTES: &[char] = &['"', '“', '”', '«', '»', '„'];

/// Parses the transcript `text`; `file` names it in messages.
pub fn parse(text: &str, file: &str, opts: &Options) -> Result<Export, ImportError> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let lines: Vec<&str> = split_lines(text);
    if let Some((n, l)) = lines.iter().enumerate().find(|(_, l)| l.len() > MAX_LINE) {
        return err(format!(
            "{file}:{}: a line of {} bytes, over the {MAX_LINE}-byte limit; this is not a WhatsApp transcript",
            n + 1,
            l.len()
        ));
    }
    let headers: Vec<Option<header::Header<'_>>> = lines.iter().map(|l| header::parse(l)).collect();
    let ios = headers
        .iter()
        .flatten()
        .filter(|h| h.style == Style::Ios)
        .count();
    let android = headers.iter().flatten().count() - ios;
    if ios + android == 0 {
        return err(format!(
            "{file}: no WhatsApp message header found; expected lines such as \
             `18/03/2022, 14:56 - Name: text` or `[18/03/2022, 14:56:01] Name: text`. \
             Is this the transcript of a WhatsApp \"Export chat\"?"
        ));
    }
    let style = if ios > android {
        Style::Ios
    } else {
        Style::Android
    };
    let mut warnings = Vec::new();
    let order = match opts.date_order {
        Some(order) => order,
        None => {
            let fields: Vec<(u32, u32, u32)> = headers
                .iter()
                .flatten()
                .filter(|h| h.style == style && h.fields[0].1 != 4)
                .map(|h| (h.fields[0].0, h.fields[1].0, h.fields[2].0))
                .collect();
            let (order, note) = dates::detect(&fields);
            warnings.extend(note);
            order
        }
    };

    // Cut the file into messages.
    let mut raws: Vec<Raw<'_>> = Vec::new();
    let mut orphan_lines = 0;
    for (n, (line, header)) in lines.iter().zip(&headers).enumerate() {
        let header = header.as_ref().filter(|h| h.style == style);
        if let Some(h) = header {
            if let Some(wall) = dates::wall_time(h, order) {
                raws.push(Raw {
                    line: n + 1,
                    wall,
                    rest: h.rest,
                    more: Vec::new(),
                });
                continue;
            }
            warnings.push(format!(
                "{file}:{}: looks like a message header but is not a valid {order} date and time; \
                 kept as part of the previous message",
                n + 1
            ));
        }
        match raws.last_mut() {
            Some(r) => r.more.push(line),
            None if line.trim().is_empty() => {}
            None => orphan_lines += 1,
        }
    }
    if orphan_lines > 0 {
        warnings.push(format!(
            "{file}: {orphan_lines} line(s) before the first message were ignored"
        ));
    }

    // Authors: the name before the first `: `, unless it holds quotes (a quoted subject).
    let author_of = |rest: &str| -> Option<String> {
        let (name, _) = rest.split_once(": ")?;
        let name = strip_marks(name);
        (!name.trim().is_empty() && !name.contains(QUOTES)).then(|| name.to_owned())
    };
    let known: BTreeSet<String> = raws.iter().filter_map(|r| author_of(r.rest)).collect();
    let chat_name = opts.chat_name.clone().or_else(|| {
        (style == Style::Ios)
            .then(|| infer_chat_name(&raws, &known))
            .flatten()
    });

    let mut resolver = Resolver::new(&opts.timezone).map_err(ImportError)?;
    let mut messages = Vec::with_capacity(raws.len());
    let mut senders: Vec<(String, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut exporter_seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut latest: Option<(i64, usize)> = None;
    for (index, raw) in raws.iter().enumerate() {
        let (ts_ms, reading) = resolver
            .resolve(raw.wall)
            .map_err(|e| ImportError(format!("{file}:{}: {e}", raw.line)))?;
        if let Reading::Fold { second } = reading {
            warnings.push(format!(
                "{file}:{}: {} occurs twice in {} (clocks turned back); took the {} reading by file order",
                raw.line,
                raw.wall,
                resolver.name(),
                if second { "second (standard time)" } else { "first (daylight saving time)" }
            ));
        }
        match latest {
            Some((ts, line)) if ts_ms < ts => warnings.push(format!(
                "{file}:{}: dated before line {line} above it; the import sends messages in time order",
                raw.line
            )),
            _ => latest = Some((ts_ms, raw.line)),
        }
        let author = author_of(raw.rest).filter(|a| known.contains(a));
        let mut whole = match &author {
            Some(_) => raw.rest[raw.rest.find(": ").map_or(0, |i| i + 2)..].to_owned(),
            None => raw.rest.to_owned(),
        };
        for more in &raw.more {
            whole.push('\n');
            whole.push_str(more);
        }
        let classified = body::classify(&whole);
        let ios_system = style == Style::Ios
            && author.is_some()
            && author == chat_name
            && whole.starts_with('\u{200E}')
            && matches!(classified.kind, Kind::Text);
        let sender = match &author {
            Some(_) if ios_system => None,
            Some(a) => Some(push_name(a)),
            None => None,
        };
        let message = match &sender {
            None => Message {
                index,
                id: None,
                line: raw.line,
                kind: Kind::System,
                sender: None,
                sender_id: None,
                ts_ms,
                body: strip_marks(&whole).to_owned(),
                edited: false,
                reply_to: None,
                attachment: None,
                omitted: false,
                local_time: raw.wall.to_string(),
                spans: Vec::new(),
            },
            Some(name) => {
                if seen.insert(name.clone()) {
                    senders.push((name.clone(), name.clone()));
                }
                if classified.kind == Kind::Deleted
                    && body::DELETED_BY_EXPORTER.contains(&classified.text.trim_end_matches('.'))
                {
                    *exporter_seen.entry(name.clone()).or_default() += 1;
                }
                Message {
                    index,
                    id: None,
                    line: raw.line,
                    kind: classified.kind,
                    sender: Some(name.clone()),
                    sender_id: Some(name.clone()),
                    ts_ms,
                    body: classified.text,
                    edited: classified.edited,
                    reply_to: None,
                    attachment: classified
                        .attachment
                        .map(|filename| Attachment { filename }),
                    omitted: classified.omitted,
                    local_time: raw.wall.to_string(),
                    spans: Vec::new(),
                }
            }
        };
        messages.push(message);
    }

    let inferred = exporter_seen
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(name, _)| name.clone());
    let exporter = match (&opts.exporter, inferred) {
        (Some(given), Some(inferred)) if *given != inferred => {
            warnings.push(format!(
                "exporter: --exporter says {given:?} but {inferred:?} deleted messages as \"You\"; using {given:?}"
            ));
            Some(given.clone())
        }
        (Some(given), _) => Some(given.clone()),
        (None, inferred) => inferred,
    };
    for m in messages.iter().filter(|m| m.kind == Kind::System) {
        if system::subtype(&m.body).is_none() {
            warnings.push(format!(
                "{file}:{}: system line not recognised, kept as it is: {}",
                m.line, m.body
            ));
        }
    }
    let omitted = messages.iter().filter(|m| m.omitted).count();
    if omitted > 0 {
        warnings.push(format!(
            "{omitted} media file(s) were left out of the export (\"<Media omitted>\"); export with media to include them"
        ));
    }
    warnings.push(
        "WhatsApp exports hold at most about 40,000 messages (10,000 with media): if the chat had more, its oldest messages are missing"
            .to_owned(),
    );
    let key_name = chat_name.clone().unwrap_or_else(|| file.to_owned());
    Ok(Export {
        source: SourceKind::WhatsApp,
        chat_key: format!("wa:{}", short_hash(&key_name.to_lowercase())),
        chat_name,
        exporter,
        messages,
        senders,
        warnings,
        pinned: Vec::new(),
    })
}

/// Splits on `\r\n`, `\r` or `\n`.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// A sender name without the `~` (and the space after it) of an unsaved contact's push name.
fn push_name(name: &str) -> String {
    match name.strip_prefix('~') {
        Some(rest) => rest.trim_start_matches(char::is_whitespace).to_owned(),
        None => name.to_owned(),
    }
}

/// On iOS, group system lines carry the group's name as author and start with U+200E; the
/// chat name is the author all of whose messages are such lines.
fn infer_chat_name(raws: &[Raw<'_>], known: &BTreeSet<String>) -> Option<String> {
    let mut all_marked: BTreeMap<&str, bool> = BTreeMap::new();
    for r in raws {
        if let Some((name, body)) = r.rest.split_once(": ")
            && known.contains(name)
        {
            let system_like = body.starts_with('\u{200E}')
                && r.more.is_empty()
                && body::classify(body).kind == Kind::Text;
            let entry = all_marked.entry(name).or_insert(true);
            *entry &= system_like;
        }
    }
    let mut names = all_marked
        .into_iter()
        .filter(|(_, all)| *all)
        .map(|(n, _)| n);
    match (names.next(), names.next()) {
        (Some(name), None) => Some(name.to_owned()),
        _ => None,
    }
}

/// The first 16 hex digits of a SHA-256.
pub(crate) fn short_hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
