//! Telegram Desktop JSON exports (`result.json`) to an [`Export`].
//!
//! Invalid `\xNN` escapes are repaired first; `text` may be a string or an array of strings
//! and entity objects; service messages carry `actor` and `action`; ids are signed (messages
//! of a migrated basic group are negative); skipped files have a sentence instead of a path.

pub(crate) mod escapes;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{
    Attachment, Export, ImportError, Kind, Message, SourceKind, Span, err,
    timezone::{Reading, Resolver},
};

/// What the operator tells the parser.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// IANA zone of the exporting computer, needed only for exports without `date_unixtime`.
    pub timezone: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    name: Option<String>,
    id: Option<i64>,
    messages: Option<Vec<TgMessage>>,
    chats: Option<Value>,
}

#[derive(Deserialize)]
struct TgMessage {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    date: Option<String>,
    date_unixtime: Option<Value>,
    edited: Option<String>,
    from: Option<String>,
    from_id: Option<String>,
    actor: Option<String>,
    actor_id: Option<String>,
    action: Option<String>,
    title: Option<String>,
    #[serde(default)]
    members: Vec<Option<String>>,
    message_id: Option<i64>,
    reply_to_message_id: Option<i64>,
    reply_to_peer_id: Option<String>,
    #[serde(default)]
    text: Value,
    text_entities: Option<Vec<Entity>>,
    photo: Option<String>,
    file: Option<String>,
    location_information: Option<Location>,
}

#[derive(Deserialize)]
struct Entity {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    text: String,
    href: Option<String>,
    user_id: Option<Value>,
    language: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

/// Parses `result.json`; `file` names it in messages.
pub fn parse(bytes: &[u8], file: &str, opts: &Options) -> Result<Export, ImportError> {
    let (fixed, repairs) = escapes::repair(bytes);
    let chat: Chat = serde_json::from_slice(&fixed).map_err(|e| {
        ImportError(format!(
            "{file}:{}:{}: not a Telegram JSON export ({e}); export the chat from Telegram Desktop with the format set to JSON",
            e.line(),
            e.column()
        ))
    })?;
    if chat.chats.is_some() {
        return err(format!(
            "{file}: this is a whole-account export; export the one chat instead \
             (Telegram Desktop: open the chat, ⋮ → Export chat history, format JSON)"
        ));
    }
    let Some(list) = chat.messages else {
        return err(format!(
            "{file}: no `messages` list; is this the result.json of a Telegram chat export?"
        ));
    };
    let mut warnings = Vec::new();
    if repairs > 0 {
        warnings.push(format!(
            "{file}: repaired {repairs} invalid \\x escape(s) written by Telegram Desktop"
        ));
    }
    let mut resolver = match &opts.timezone {
        Some(tz) => Some(Resolver::new(tz).map_err(ImportError)?),
        None => None,
    };
    let mut messages = Vec::with_capacity(list.len());
    let mut senders: Vec<(String, String)> = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut latest: Option<(i64, i64)> = None;
    let mut pinned = Vec::new();
    for m in list {
        if m.kind != "message" && m.kind != "service" {
            warnings.push(format!(
                "message {}: type `{}` (Telegram Desktop could not export its content); skipped",
                m.id, m.kind
            ));
            continue;
        }
        let ts_ms = timestamp(&m, file, resolver.as_mut(), &mut warnings)?;
        match latest {
            Some((ts, id)) if ts_ms < ts => warnings.push(format!(
                "message {}: dated before message {id} above it; the import sends messages in time order",
                m.id
            )),
            _ => latest = Some((ts_ms, m.id)),
        }
        let reply_to = match (m.reply_to_message_id, &m.reply_to_peer_id) {
            (Some(id), None) => Some(id),
            (Some(id), Some(peer)) => {
                warnings.push(format!(
                    "message {}: replies to message {id} of another chat ({peer}); sent without the reply",
                    m.id
                ));
                None
            }
            (None, _) => None,
        };
        let index = messages.len();
        let local_time = m.date.clone().unwrap_or_default();
        if m.kind == "service" {
            if m.action.as_deref() == Some("pin_message")
                && let Some(id) = m.message_id
            {
                pinned.retain(|p| *p != id);
                pinned.push(id);
            }
            messages.push(Message {
                index,
                id: Some(m.id),
                line: 0,
                kind: Kind::System,
                sender: m.actor.clone(),
                sender_id: m.actor_id.clone(),
                ts_ms,
                body: describe_service(&m),
                edited: false,
                reply_to,
                attachment: None,
                omitted: false,
                local_time,
                spans: Vec::new(),
            });
            continue;
        }
        let mut body = text_of(&m);
        if body.is_empty()
            && let Some(loc) = &m.location_information
        {
            body = format!("Location: {}, {}", loc.latitude, loc.longitude);
        }
        let path = m.photo.as_deref().or(m.file.as_deref());
        let (kind, attachment, omitted) = match path {
            Some(p) if is_skip_sentence(p) => {
                warnings.push(format!("message {}: file not in the export: {p}", m.id));
                (Kind::Media, None, true)
            }
            Some(p) => (
                Kind::Media,
                Some(Attachment {
                    filename: p.to_owned(),
                }),
                false,
            ),
            None => (Kind::Text, None, false),
        };
        let sender_id = m
            .from_id
            .clone()
            .or_else(|| m.from.as_ref().map(|f| format!("name:{f}")))
            .unwrap_or_else(|| "unknown".to_owned());
        let display = m
            .from
            .clone()
            .unwrap_or_else(|| "Deleted Account".to_owned());
        if names.insert(sender_id.clone(), display.clone()).is_none() {
            senders.push((sender_id.clone(), display));
        }
        messages.push(Message {
            index,
            id: Some(m.id),
            line: 0,
            kind,
            sender: m.from.clone(),
            sender_id: Some(sender_id),
            ts_ms,
            body,
            edited: m.edited.is_some(),
            reply_to,
            attachment,
            omitted,
            local_time,
            spans: spans_of(&m),
        });
    }
    // A sender's latest name is the one their ghost shows.
    for (id, name) in &mut senders {
        if let Some(latest) = names.get(id) {
            name.clone_from(latest);
        }
    }
    let chat_key = match chat.id {
        Some(id) => format!("tg:{id}"),
        None => format!(
            "tg:{}",
            super::whatsapp::short_hash(chat.name.as_deref().unwrap_or(file))
        ),
    };
    Ok(Export {
        source: SourceKind::Telegram,
        chat_name: chat.name,
        chat_key,
        exporter: None,
        messages,
        senders,
        warnings,
        pinned,
    })
}

/// UTC milliseconds from `date_unixtime`, or from the local `date` in the operator's zone.
fn timestamp(
    m: &TgMessage,
    file: &str,
    resolver: Option<&mut Resolver>,
    warnings: &mut Vec<String>,
) -> Result<i64, ImportError> {
    let unix = match &m.date_unixtime {
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    };
    if let Some(secs) = unix {
        return secs.checked_mul(1000).ok_or_else(|| {
            ImportError(format!(
                "{file}: message {}: date_unixtime out of range",
                m.id
            ))
        });
    }
    let Some(resolver) = resolver else {
        return err(format!(
            "{file}: message {} has no date_unixtime (an export older than June 2022); \
             pass --timezone with the zone of the computer that made the export",
            m.id
        ));
    };
    let local = m.date.as_deref().unwrap_or_default();
    let wall: jiff::civil::DateTime = local.parse().map_err(|_| {
        ImportError(format!(
            "{file}: message {}: unreadable date {local:?}",
            m.id
        ))
    })?;
    let (ms, reading) = resolver
        .resolve(wall)
        .map_err(|e| ImportError(format!("{file}: message {}: {e}", m.id)))?;
    if let Reading::Fold { second } = reading {
        warnings.push(format!(
            "message {}: {wall} occurs twice in {} (clocks turned back); took the {} reading by file order",
            m.id,
            resolver.name(),
            if second { "second (standard time)" } else { "first (daylight saving time)" }
        ));
    }
    Ok(ms)
}

/// The plain text: the entities' texts joined with nothing in between.
fn text_of(m: &TgMessage) -> String {
    if let Some(entities) = &m.text_entities {
        return entities.iter().map(|e| e.text.as_str()).collect();
    }
    match &m.text {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p {
                Value::String(s) => s.as_str(),
                Value::Object(o) => o.get("text").and_then(Value::as_str).unwrap_or_default(),
                _ => "",
            })
            .collect(),
        _ => String::new(),
    }
}

/// The formatted runs of a message, or nothing if it is all plain text.
fn spans_of(m: &TgMessage) -> Vec<Span> {
    let Some(entities) = &m.text_entities else {
        return Vec::new();
    };
    if entities.iter().all(|e| e.kind == "plain") {
        return Vec::new();
    }
    entities
        .iter()
        .map(|e| Span {
            kind: e.kind.clone(),
            text: e.text.clone(),
            href: e.href.clone(),
            user: match &e.user_id {
                Some(Value::Number(n)) => Some(format!("user{n}")),
                Some(Value::String(s)) => Some(format!("user{s}")),
                _ => None,
            },
            language: e.language.clone().filter(|l| !l.is_empty()),
        })
        .collect()
}

/// Telegram's sentences in place of a skipped file's path.
fn is_skip_sentence(path: &str) -> bool {
    path.starts_with("(File ") || (path.starts_with('(') && path.ends_with(')'))
}

/// A one-line English description of a service message.
fn describe_service(m: &TgMessage) -> String {
    let actor = m.actor.as_deref().unwrap_or("Deleted Account");
    let members = m
        .members
        .iter()
        .map(|n| n.as_deref().unwrap_or("Deleted Account"))
        .collect::<Vec<_>>()
        .join(", ");
    let title = m.title.as_deref().unwrap_or_default();
    match m.action.as_deref().unwrap_or_default() {
        "create_group" | "create_channel" => format!("{actor} created group \"{title}\""),
        "invite_members" => format!("{actor} added {members}"),
        "remove_members" => format!("{actor} removed {members}"),
        "join_group_by_link" => format!("{actor} joined the group via an invite link"),
        "join_group_by_request" => format!("{actor} was accepted into the group"),
        "edit_group_title" => format!("{actor} changed the group name to \"{title}\""),
        "edit_group_photo" => format!("{actor} changed the group photo"),
        "delete_group_photo" => format!("{actor} removed the group photo"),
        "migrate_to_supergroup" => format!("{actor} converted this group to a supergroup"),
        "migrate_from_group" => format!("{actor} converted the group \"{title}\" to a supergroup"),
        "pin_message" => match m.message_id {
            Some(id) => format!("{actor} pinned message {id}"),
            None => format!("{actor} pinned a message"),
        },
        "clear_history" => format!("{actor} cleared the history"),
        other => {
            let text = text_of(m);
            if text.is_empty() {
                format!("{actor}: {}", other.replace('_', " "))
            } else {
                format!("{actor}: {text}")
            }
        }
    }
}

#[cfg(test)]
mod tests;
