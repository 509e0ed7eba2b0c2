//! The real import: a new room, one ghost per sender, every message sent with its original
//! timestamp (`?ts=`), media uploaded, replies linked, then invitations and the report.
//!
//! Each sent item is recorded in the [`Ledger`] before the next one is sent, and each send
//! uses a transaction id derived from its source key: a re-run skips what is recorded, and a
//! send retried after a crash is deduplicated by the homeserver within its window.

mod content;

use std::collections::{BTreeMap, btree_map::Entry};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedUserId, RoomId, UInt, UserId,
    api::client::state::send_state_event, events::AnyStateEventContent, serde::Raw,
};
use serde_json::{Value, json, value::RawValue};

pub use self::content::{location, mime_of, with_exporter};
use super::{
    Export, ImportError, Kind, Message, formatting,
    ledger::{Ledger, source_keys},
    report::{self, Outcome},
    senders::SenderMap,
    source::Loaded,
};
use crate::{
    config::Config,
    ids::GhostTemplate,
    matrix::{MatrixClient, MatrixError, NewRoom},
    store::Store,
};

/// Localpart template of import ghosts; the registration reserves this namespace.
pub const GHOST_TEMPLATE: &str = "_import_{id}";

/// Content key marking imported events with their source (to rebuild a lost ledger).
const MARK: &str = "org.passerelle.import";

/// What the operator asked for besides the export itself.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Room name; default: the chat's name.
    pub room_name: Option<String>,
    /// Senders pointed to real Matrix users (invited at the end).
    pub map: SenderMap,
    /// Users invited once the history is in.
    pub invite: Vec<OwnedUserId>,
    /// Stop after sending this many messages (a re-run continues).
    pub limit: Option<usize>,
    /// Warnings found before the run (sender map entries matching nobody, …).
    pub warnings: Vec<String>,
}

/// Runs the import; returns the report, which is also posted in the room.
pub async fn import(config: &Config, loaded: Loaded, plan: Plan) -> Result<String, ImportError> {
    let Loaded {
        export,
        mut media,
        origin,
    } = loaded;
    let client = MatrixClient::new(config).map_err(|e| hs_error("preparing the client", &e))?;
    let store = Store::open(&config.database.path, config.database.max_connections)
        .await
        .map_err(|e| {
            ImportError(format!(
                "database.path {}: {e}",
                config.database.path.display()
            ))
        })?;
    let ledger = Ledger::new(store.clone(), &export.chat_key);
    let bot = UserId::parse(config.bot_user_id())
        .map_err(|e| ImportError(format!("appservice.bot_localpart: {e}")))?;
    let server = config.homeserver.server_name.clone();
    let template = GhostTemplate::parse(GHOST_TEMPLATE).map_err(|e| ImportError(e.to_string()))?;

    // Ghosts: one per sender id, scoped to this chat so that names never collide across chats.
    let scope = &super::whatsapp::short_hash(&export.chat_key)[..8];
    let mut ghosts: BTreeMap<String, OwnedUserId> = BTreeMap::new();
    let mut who: BTreeMap<String, String> = BTreeMap::new();
    for (id, name) in &export.senders {
        let user = template
            .user_id(&format!("{scope}.{id}"), &server)
            .ok()
            .and_then(|u| UserId::parse(u).ok())
            .ok_or_else(|| ImportError(format!("sender {name:?}: no valid ghost user id")))?;
        let shown = match plan.map.get(id, name) {
            Some(real) => format!("{user} (stands in for {real}, invited)"),
            None => user.to_string(),
        };
        who.insert(id.clone(), shown);
        ghosts.insert(id.clone(), user);
    }

    let room = match ledger.room().await.map_err(db)? {
        Some(room) => RoomId::parse(room).map_err(|e| ImportError(format!("ledger: {e}")))?,
        None => {
            let room = create_room(&client, &export, &origin, &plan).await?;
            ledger
                .set_room(export.source, room.as_str())
                .await
                .map_err(db)?;
            room
        }
    };
    let mut sent = ledger.sent().await.map_err(db)?;
    let keys = source_keys(&export);
    let mut order: Vec<usize> = (0..export.messages.len()).collect();
    order.sort_by_key(|&i| (export.messages[i].ts_ms, i));
    let by_id: BTreeMap<i64, usize> = export
        .messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.id.map(|id| (id, i)))
        .collect();

    let progress =
        ProgressBar::with_draw_target(Some(order.len() as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} messages ({eta} left)") {
        progress.set_style(style);
    }
    let mut outcome = Outcome {
        room_id: room.to_string(),
        ..Outcome::default()
    };
    let max_media = config.homeserver.max_media_size.as_u64();
    for &i in &order {
        progress.inc(1);
        let m = &export.messages[i];
        let key = &keys[i];
        if sent.contains_key(key) {
            outcome.already += 1;
            continue;
        }
        if plan.limit.is_some_and(|limit| outcome.sent >= limit) {
            outcome.partial = true;
            break;
        }
        let sender = match (&m.kind, &m.sender_id) {
            (Kind::System, _) | (_, None) => None,
            (_, Some(id)) => ghosts.get(id).cloned(),
        };
        if let (Some(ghost), Some(id)) = (&sender, &m.sender_id)
            && let Entry::Vacant(slot) = sent.entry(format!("join:{id}"))
        {
            let name = export
                .senders
                .iter()
                .find(|(sid, _)| sid == id)
                .map_or(id.as_str(), |(_, n)| n.as_str());
            client
                .register(ghost.localpart())
                .await
                .map_err(|e| hs_error(&format!("registering {ghost}"), &e))?;
            client
                .set_display_name(ghost, name)
                .await
                .map_err(|e| hs_error(&format!("naming {ghost}"), &e))?;
            let event = join(&client, &room, &bot, ghost, name, m.ts_ms).await?;
            ledger.record(slot.key(), &event).await.map_err(db)?;
            slot.insert(event);
        }
        let mut content = content::content_for(
            &client,
            &export,
            m,
            sender.as_deref(),
            &mut media,
            max_media,
            &mut outcome,
        )
        .await?;
        if m.kind == Kind::Text
            && let Some(html) =
                formatting::html(&m.spans, |user| ghosts.get(user).map(ToString::to_string))
        {
            content["format"] = json!("org.matrix.custom.html");
            let edited = if m.edited { " (edited)" } else { "" };
            content["formatted_body"] = json!(format!("{html}{edited}"));
        }
        if let Some(target) = m.reply_to {
            let target_event = by_id.get(&target).and_then(|&t| sent.get(&keys[t]));
            match target_event {
                Some(event) => {
                    content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": event}});
                }
                None => {
                    let body = content["body"].as_str().unwrap_or_default().to_owned();
                    content["body"] = json!(format!(
                        "(in reply to message {target}, not imported)\n{body}"
                    ));
                }
            }
        }
        content[MARK] = json!({"source": export.source.as_str(), "key": key});
        let event = client
            .send(
                &room,
                sender.as_deref(),
                "m.room.message",
                &content,
                &ledger.txn_id(key),
                Some(m.ts_ms),
            )
            .await
            .map_err(|e| hs_error(&format!("sending {}", describe(m)), &e))?;
        ledger.record(key, &event).await.map_err(db)?;
        sent.insert(key.clone(), event);
        outcome.sent += 1;
    }
    progress.finish_and_clear();

    let text = report::render(&export, &origin, &who, &plan.warnings, Some(&outcome));
    if !outcome.partial {
        let mut invite: Vec<&UserId> = plan.invite.iter().map(|u| &**u).collect();
        invite.extend(plan.map.users());
        invite.sort();
        invite.dedup();
        for user in invite {
            client
                .invite(&room, None, user)
                .await
                .map_err(|e| hs_error(&format!("inviting {user}"), &e))?;
        }
        let pinned: Vec<&String> = export
            .pinned
            .iter()
            .filter_map(|id| by_id.get(id).and_then(|&i| sent.get(&keys[i])))
            .collect();
        if !pinned.is_empty() {
            client
                .set_state(
                    &room,
                    None,
                    "m.room.pinned_events",
                    "",
                    &json!({"pinned": pinned}),
                )
                .await
                .map_err(|e| hs_error("pinning messages", &e))?;
        }
        let report_key = format!("report:{}", sent.len());
        if outcome.sent > 0 || !sent.keys().any(|k| k.starts_with("report:")) {
            let content = json!({"msgtype": "m.notice", "body": format!("Import report\n{text}")});
            let event = client
                .send(
                    &room,
                    None,
                    "m.room.message",
                    &content,
                    &ledger.txn_id(&report_key),
                    None,
                )
                .await
                .map_err(|e| hs_error("posting the report", &e))?;
            ledger.record(&report_key, &event).await.map_err(db)?;
        }
        ledger.finish().await.map_err(db)?;
    }
    store.close().await;
    Ok(text)
}

async fn create_room(
    client: &MatrixClient,
    export: &Export,
    origin: &str,
    plan: &Plan,
) -> Result<ruma::OwnedRoomId, ImportError> {
    let source = export.source.display();
    let name = plan
        .room_name
        .clone()
        .or_else(|| export.chat_name.clone())
        .unwrap_or_else(|| format!("Imported {source} chat"));
    let chat = export
        .chat_name
        .as_deref()
        .map_or_else(String::new, |n| format!(" \"{n}\""));
    let topic = format!(
        "History of the {source} chat{chat}, imported from the export {origin} on {}. \
         Messages keep their original senders and times.",
        jiff::Timestamp::now()
            .to_string()
            .get(..10)
            .unwrap_or_default()
    );
    let room = NewRoom {
        name: Some(name),
        initial_state: vec![
            json!({"type": "m.room.topic", "state_key": "", "content": {"topic": topic}}),
            json!({"type": "m.room.history_visibility", "state_key": "", "content": {"history_visibility": "shared"}}),
        ],
        ..NewRoom::default()
    };
    client
        .create_room(None, room)
        .await
        .map_err(|e| hs_error("creating the room", &e))
}

/// Invites and joins a ghost with membership events dated just before its first message.
async fn join(
    client: &MatrixClient,
    room: &RoomId,
    bot: &UserId,
    ghost: &UserId,
    name: &str,
    first_ts: i64,
) -> Result<String, ImportError> {
    let ts = first_ts.saturating_sub(1);
    let invite = json!({"membership": "invite", "displayname": name});
    state_at(client, room, bot, ghost.as_str(), &invite, ts)
        .await
        .map_err(|e| hs_error(&format!("inviting {ghost}"), &e))?;
    let joined = json!({"membership": "join", "displayname": name});
    state_at(client, room, ghost, ghost.as_str(), &joined, ts)
        .await
        .map_err(|e| hs_error(&format!("joining {ghost}"), &e))
}

/// `PUT /state/m.room.member/{key}?ts=…` as `sender`.
async fn state_at(
    client: &MatrixClient,
    room: &RoomId,
    sender: &UserId,
    state_key: &str,
    content: &Value,
    ts: i64,
) -> Result<String, MatrixError> {
    let raw = RawValue::from_string(content.to_string()).map_err(|e| MatrixError {
        kind: crate::matrix::RetryKind::Permanent,
        status: None,
        errcode: None,
        message: format!("state content: {e}"),
    })?;
    let mut request = send_state_event::v3::Request::new_raw(
        room.to_owned(),
        "m.room.member".into(),
        state_key.to_owned(),
        Raw::<AnyStateEventContent>::from_json(raw),
    );
    request.timestamp = u64::try_from(ts)
        .ok()
        .and_then(UInt::new)
        .map(MilliSecondsSinceUnixEpoch);
    Ok(client
        .call(request, Some(sender))
        .await?
        .event_id
        .to_string())
}

pub(super) fn describe(m: &Message) -> String {
    match (m.id, m.line) {
        (Some(id), _) => format!("message {id}"),
        (None, line) => format!("the message on line {line}"),
    }
}

pub(super) fn hs_error(what: &str, e: &MatrixError) -> ImportError {
    ImportError(format!(
        "{what}: the homeserver said {e}; fix that and run the same command again, it continues where it stopped"
    ))
}

fn db(e: crate::store::Error) -> ImportError {
    ImportError(format!("the import ledger: {e}"))
}
