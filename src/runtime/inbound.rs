//! Remote messages: stored by the connectors' sink, then bridged into their portal room.

use std::sync::Weak;

use async_trait::async_trait;
use serde_json::json;

use ruma::{RoomId, UserId};

use super::{
    Runtime,
    outbox::{MatrixEvent, ReactionRef, RemoteRef, notice, redact, to_matrix},
    queues::Outcome,
};
use crate::{
    connector::{ConnectorError, Inbound, InboundKind, InboundSink},
    media::FetchError,
    store::{Reaction, RemoteInboxRow},
};

/// The durable hand-off given to connectors.
pub(super) struct Sink {
    pub(super) runtime: Weak<Runtime>,
}

#[async_trait]
impl InboundSink for Sink {
    async fn commit(&self, connector: &str, message: Inbound) -> Result<(), ConnectorError> {
        let runtime = self
            .runtime
            .upgrade()
            .ok_or_else(|| ConnectorError("shutting down".into()))?;
        let payload = serde_json::to_string(&message).map_err(|e| ConnectorError(e.to_string()))?;
        let fresh = runtime
            .store
            .accept_remote(
                connector,
                &message.remote_id,
                &message.conversation,
                &payload,
            )
            .await
            .map_err(|e| ConnectorError(format!("cannot store the message: {e}")))?;
        if fresh {
            tracing::debug!(connector, remote_id = %message.remote_id, "Remote message stored.");
            runtime.wake.notify_one();
        } else {
            tracing::debug!(connector, "Remote message already stored; ignored.");
        }
        Ok(())
    }

    fn back_online(&self, connector: &str) {
        if let Some(runtime) = self.runtime.upgrade() {
            tracing::debug!(
                connector,
                "Connector back online; retrying waiting sends now."
            );
            runtime.retry_now.notify_waiters();
        }
    }

    async fn set_opt_out(
        &self,
        connector: &str,
        contact: &str,
        opted_out: bool,
        keyword: &str,
    ) -> Result<(), ConnectorError> {
        let runtime = self
            .runtime
            .upgrade()
            .ok_or_else(|| ConnectorError("shutting down".into()))?;
        let stored = if opted_out {
            runtime
                .store
                .insert_opt_out(connector, contact, keyword)
                .await
        } else {
            runtime.store.delete_opt_out(connector, contact).await
        };
        stored.map_err(|e| ConnectorError(format!("cannot store the opt-out: {e}")))
    }

    async fn opt_out(
        &self,
        connector: &str,
        contact: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let runtime = self
            .runtime
            .upgrade()
            .ok_or_else(|| ConnectorError("shutting down".into()))?;
        runtime
            .store
            .opt_out(connector, contact)
            .await
            .map_err(|e| ConnectorError(format!("cannot read the opt-outs: {e}")))
    }
}

impl Runtime {
    pub(super) async fn handle_remote(&self, row: &RemoteInboxRow) -> Outcome {
        let message: Inbound = match serde_json::from_str(&row.payload) {
            Ok(m) => m,
            Err(e) => return Outcome::Skipped(format!("unreadable remote message: {e}")),
        };
        let Some(entry) = self.registry.by_name(&row.connector) else {
            return Outcome::Retry {
                error: format!("connector {} is not enabled", row.connector),
                retry_after: None,
            };
        };
        // A message addressed to a Matrix user who may not use the bridge is not delivered.
        let recipient = message
            .recipient
            .clone()
            .filter(|r| self.permissions.level(r) >= crate::config::PermissionLevel::Relay);
        if message.recipient.is_some() && recipient.is_none() {
            return Outcome::Skipped("the addressed Matrix user may not use the bridge".into());
        }
        let ghost = match self
            .ensure_ghost(entry, &message.sender, message.sender_name.as_deref())
            .await
        {
            Ok(g) => g,
            Err(e) => return e.into(),
        };
        let portal = match self
            .store
            .portal_by_conversation(&row.connector, &message.conversation)
            .await
        {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        if !matches!(message.kind, InboundKind::Message) {
            // Actions on earlier messages need the room those messages are in.
            let Some(portal) = portal else {
                return Outcome::Skipped("an action in a conversation without a room".into());
            };
            return self
                .handle_remote_action(&row.connector, &message, &ghost, &portal.room_id)
                .await;
        }
        let room = match portal {
            Some(p) => p.room_id,
            None => {
                let name = message
                    .sender_name
                    .clone()
                    .unwrap_or_else(|| message.sender.clone());
                match self
                    .create_portal(
                        entry,
                        &message.conversation,
                        &ghost,
                        &name,
                        recipient.as_deref(),
                    )
                    .await
                {
                    Ok(room) => room.to_string(),
                    Err(e) => return e.into(),
                }
            }
        };
        let remote = || {
            Some(RemoteRef {
                connector: row.connector.clone(),
                remote_id: message.remote_id.clone(),
            })
        };
        let mut sends = Vec::new();
        let relation = match self.relation_of(&row.connector, &room, &message).await {
            Ok(r) => r,
            Err(e) => return e.into(),
        };
        // By convention an out-of-band file's body is just its URL: the file stands for it.
        let body_is_link = message.files.len() == 1 && message.body.trim() == message.files[0].url;
        if !message.body.is_empty() && !body_is_link {
            let msgtype = if message.notice { "m.notice" } else { "m.text" };
            let mut content = json!({"msgtype": msgtype, "body": message.body});
            if let Some(html) = &message.html {
                content["format"] = json!("org.matrix.custom.html");
                content["formatted_body"] = json!(html);
            }
            if let Some(relation) = &relation {
                content["m.relates_to"] = relation.clone();
            }
            sends.push(self.ghost_event(&room, &ghost, content, message.timestamp_ms, remote()));
        }
        for file in &message.files {
            let fetched = match &file.data {
                Some(data) => self.fetcher.inline(data.clone(), &file.url),
                None => self.fetcher.fetch(&file.url).await,
            };
            let content = match fetched {
                Ok(fetched) => {
                    let content_type = file
                        .content_type
                        .clone()
                        .or(fetched.content_type)
                        .unwrap_or_else(|| "application/octet-stream".to_owned());
                    let filename = file.filename.clone().unwrap_or(fetched.filename);
                    let size = fetched.data.len();
                    let mxc = match self
                        .matrix
                        .upload(Some(&ghost), fetched.data, &content_type, Some(&filename))
                        .await
                    {
                        Ok(m) => m,
                        Err(e) => return e.into(),
                    };
                    let msgtype = if content_type.starts_with("image/") {
                        "m.image"
                    } else {
                        "m.file"
                    };
                    let mut content = json!({"msgtype": msgtype, "body": filename,
                        "filename": filename, "url": mxc,
                        "info": {"mimetype": content_type, "size": size}});
                    if let Some(relation) = &relation {
                        content["m.relates_to"] = relation.clone();
                    }
                    content
                }
                Err(FetchError::Transient(why)) => {
                    return Outcome::Retry {
                        error: why,
                        retry_after: None,
                    };
                }
                Err(FetchError::Permanent(why)) => {
                    json!({"msgtype": "m.text", "body": format!("📎 {} (not copied to Matrix: {why})", file.url)})
                }
            };
            let mapping = if sends.is_empty() { remote() } else { None };
            sends.push(self.ghost_event(&room, &ghost, content, message.timestamp_ms, mapping));
        }
        Outcome::Done(sends)
    }

    /// The `m.relates_to` of a remote message: in its thread when the thread's first message is
    /// bridged in this room (replying to the message it answers, if bridged too), else a reply.
    async fn relation_of(
        &self,
        connector: &str,
        room: &str,
        message: &Inbound,
    ) -> Result<Option<serde_json::Value>, crate::store::Error> {
        let in_room = |m: Option<crate::store::MessageMapping>| m.filter(|m| m.room_id == room);
        let reply = match &message.reply_to {
            Some(target) => in_room(self.store.message_by_remote(connector, target).await?),
            None => None,
        };
        let root = match &message.thread {
            Some(root) if *root != message.remote_id => {
                in_room(self.store.message_by_remote(connector, root).await?)
            }
            _ => None,
        };
        Ok(match (root, reply) {
            (Some(root), reply) => {
                let falling_back = reply.is_none();
                let in_reply_to = reply.map_or(root.event_id.clone(), |r| r.event_id);
                Some(json!({
                    "rel_type": "m.thread",
                    "event_id": root.event_id,
                    "is_falling_back": falling_back,
                    "m.in_reply_to": {"event_id": in_reply_to},
                }))
            }
            (None, Some(reply)) => Some(json!({"m.in_reply_to": {"event_id": reply.event_id}})),
            (None, None) => None,
        })
    }

    fn ghost_event(
        &self,
        room: &str,
        ghost: &UserId,
        content: serde_json::Value,
        ts: Option<i64>,
        remote: Option<RemoteRef>,
    ) -> crate::store::NewOutbox {
        to_matrix(
            room,
            MatrixEvent {
                sender: Some(ghost.to_string()),
                event_type: "m.room.message".into(),
                content,
                ts,
                remote,
                reaction: None,
            },
        )
    }

    /// Edits, reactions, retractions, typing and read markers from the remote side.
    async fn handle_remote_action(
        &self,
        connector: &str,
        message: &Inbound,
        ghost: &UserId,
        room: &str,
    ) -> Outcome {
        let Ok(room_id) = RoomId::parse(room) else {
            return Outcome::Skipped("invalid portal room".into());
        };
        // The Matrix event of a remote message in this room.
        let target_event = |target: String| async move {
            match self.store.message_by_remote(connector, &target).await {
                Ok(Some(m)) if m.room_id == room => Ok(Some(m)),
                Ok(_) => Ok(None),
                Err(e) => Err(e),
            }
        };
        match &message.kind {
            InboundKind::Message => Outcome::Skipped("not an action".into()),
            InboundKind::Edit { target } => {
                let original = match target_event(target.clone()).await {
                    Ok(Some(m)) if m.sender == ghost.as_str() => m,
                    Ok(_) => {
                        return Outcome::Skipped(
                            "correction of a message this contact did not send here".into(),
                        );
                    }
                    Err(e) => return e.into(),
                };
                let content = json!({
                    "msgtype": "m.text",
                    "body": format!("* {}", message.body),
                    "m.new_content": {"msgtype": "m.text", "body": message.body},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": original.event_id},
                });
                let event = MatrixEvent {
                    sender: Some(ghost.to_string()),
                    event_type: "m.room.message".into(),
                    content,
                    ts: message.timestamp_ms,
                    remote: Some(RemoteRef {
                        connector: connector.to_owned(),
                        remote_id: message.remote_id.clone(),
                    }),
                    reaction: None,
                };
                Outcome::Done(vec![to_matrix(room, event)])
            }
            InboundKind::Reactions { target, keys } => {
                let original = match target_event(target.clone()).await {
                    Ok(Some(m)) => m,
                    Ok(None) => return Outcome::Skipped("reaction to an unknown message".into()),
                    Err(e) => return e.into(),
                };
                let existing = match self
                    .store
                    .reactions_of(connector, target, &message.sender)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => return e.into(),
                };
                let mut sends = Vec::new();
                for key in keys
                    .iter()
                    .filter(|k| !existing.iter().any(|r| &r.key == *k))
                {
                    let pending = Reaction {
                        connector: connector.to_owned(),
                        target: target.clone(),
                        sender: message.sender.clone(),
                        key: key.clone(),
                        room_id: room.to_owned(),
                        event_id: None,
                    };
                    if let Err(e) = self.store.upsert_reaction(&pending).await {
                        return e.into();
                    }
                    sends.push(to_matrix(
                        room,
                        MatrixEvent {
                            sender: Some(ghost.to_string()),
                            event_type: "m.reaction".into(),
                            content: json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": original.event_id, "key": key}}),
                            ts: None,
                            remote: None,
                            reaction: Some(ReactionRef {
                                connector: connector.to_owned(),
                                target: target.clone(),
                                sender: message.sender.clone(),
                                key: key.clone(),
                            }),
                        },
                    ));
                }
                for gone in existing.iter().filter(|r| !keys.contains(&r.key)) {
                    if let Err(e) = self
                        .store
                        .delete_reaction(connector, target, &gone.sender, &gone.key)
                        .await
                    {
                        return e.into();
                    }
                    if let Some(event_id) = &gone.event_id {
                        sends.push(redact(room, Some(ghost.as_str()), event_id));
                    }
                }
                Outcome::Done(sends)
            }
            InboundKind::Retraction { target } => match target_event(target.clone()).await {
                Ok(Some(m)) if m.sender == ghost.as_str() => {
                    Outcome::Done(vec![redact(room, Some(ghost.as_str()), &m.event_id)])
                }
                Ok(_) => Outcome::Skipped(
                    "retraction of a message this contact did not send here".into(),
                ),
                Err(e) => e.into(),
            },
            InboundKind::Joined => {
                if !self.bring_in(&room_id, ghost).await {
                    return Outcome::Retry {
                        error: "cannot bring the ghost into the room".into(),
                        retry_after: None,
                    };
                }
                Outcome::Done(Vec::new())
            }
            InboundKind::Left => match self.matrix.leave(&room_id, Some(ghost)).await {
                Ok(()) => Outcome::Done(Vec::new()),
                // Not in the room (it never spoke): nothing to undo.
                Err(e) if e.is("M_FORBIDDEN") || e.status == Some(404) => Outcome::Done(Vec::new()),
                Err(e) => e.into(),
            },
            InboundKind::Topic => {
                let host = self.registry.by_name(connector).and_then(|entry| {
                    let portal = crate::store::Portal {
                        connector: connector.to_owned(),
                        conversation: message.conversation.clone(),
                        room_id: room.to_owned(),
                    };
                    self.portal_ghost(entry, &portal).ok()
                });
                let Some(host) = host.and_then(|h| UserId::parse(h.as_str()).ok()) else {
                    return Outcome::Skipped("no ghost to set the topic".into());
                };
                let content = json!({"topic": message.body});
                match self
                    .matrix
                    .set_state(&room_id, Some(&host), "m.room.topic", "", &content)
                    .await
                {
                    Ok(_) => Outcome::Done(Vec::new()),
                    // Without the power to set the topic, say it instead.
                    Err(e) if !e.kind.is_retryable() => {
                        let text = format!("📌 Topic: {}", message.body);
                        Outcome::Done(vec![notice(room, Some(host.as_str()), &text, None)])
                    }
                    Err(e) => e.into(),
                }
            }
            InboundKind::Typing { active } => {
                if let Err(e) = self.matrix.typing(&room_id, ghost, *active).await {
                    tracing::debug!(error = %e, "Typing notification not shown.");
                }
                Outcome::Done(Vec::new())
            }
            InboundKind::DeliveryFailed {
                target,
                reason,
                key,
            } => {
                // The bounced Matrix event: from the outbox row when the network named it,
                // else from the message map.
                let from_outbox = match key {
                    Some(k) => match self.store.outbox_row(*k).await {
                        Ok(Some(row)) if row.room_id == room => {
                            match serde_json::from_str(&row.payload) {
                                Ok(super::outbox::Send::Remote(m)) => Some(m.event_id),
                                _ => None,
                            }
                        }
                        Ok(_) => None,
                        Err(e) => return e.into(),
                    },
                    None => None,
                };
                let event_id = match from_outbox {
                    Some(e) => e,
                    None => match target_event(target.clone()).await {
                        Ok(Some(m)) => m.event_id,
                        Ok(None) => {
                            return Outcome::Skipped("a bounce for an unknown message".into());
                        }
                        Err(e) => return e.into(),
                    },
                };
                let text = format!("⚠ Not delivered to {}: {reason}", message.sender);
                Outcome::Done(vec![notice(
                    room,
                    Some(ghost.as_str()),
                    &text,
                    Some(&event_id),
                )])
            }
            InboundKind::Read { target } => {
                let found = target_event(target.clone()).await;
                // A gateway's delivery report can overtake the recording of the send it is
                // about: a fresh one (timestamped by the connector) waits for it a little.
                if matches!(found, Ok(None))
                    && message
                        .timestamp_ms
                        .is_some_and(|t| crate::store::now_ms() - t < 30_000)
                {
                    return Outcome::Retry {
                        error: "the message read is not recorded yet".into(),
                        retry_after: Some(std::time::Duration::from_secs(1)),
                    };
                }
                if let Ok(Some(m)) = found
                    && let Ok(event) = ruma::EventId::parse(m.event_id.as_str())
                    && let Err(e) = self.matrix.read_receipt(&room_id, ghost, &event).await
                {
                    tracing::debug!(error = %e, "Read receipt not shown.");
                }
                Outcome::Done(Vec::new())
            }
        }
    }
}
