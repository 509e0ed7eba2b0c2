//! Delivering outbox rows: to the homeserver with a deterministic transaction id, or to a
//! connector with the row id as idempotency key.

use ruma::{RoomId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Runtime, queues::Outcome};
use crate::{
    connector::{Attachment, Outbound, SendError, Sender},
    store::{Direction, MessageMapping, NewOutbox, OutboxRow},
};

/// A queued send, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Send {
    /// An event into a Matrix room.
    Matrix(MatrixEvent),
    /// A message to a remote network.
    Remote(RemoteMessage),
    /// A redaction in a Matrix room.
    Redact(RedactEvent),
}

/// A redaction to send into a Matrix room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedactEvent {
    /// The ghost redacting; `None` for the bot.
    pub sender: Option<String>,
    /// The event to redact.
    pub event_id: String,
    /// Why, shown to users.
    pub reason: Option<String>,
}

/// An event to send into a Matrix room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixEvent {
    /// The ghost sending it; `None` for the bot.
    pub sender: Option<String>,
    /// Event type, e.g. `m.room.message`.
    pub event_type: String,
    /// Event content.
    pub content: Value,
    /// Original time (timestamp massaging), ms since the epoch.
    pub ts: Option<i64>,
    /// The remote message it bridges, to record in the message map.
    pub remote: Option<RemoteRef>,
    /// For an `m.reaction`: the reaction it stands for, to record its event id.
    #[serde(default)]
    pub reaction: Option<ReactionRef>,
}

/// A reaction tracked in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionRef {
    /// Connector.
    pub connector: String,
    /// Remote id of the message reacted to.
    pub target: String,
    /// The remote sender.
    pub sender: String,
    /// The reaction key.
    pub key: String,
}

/// A remote message id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRef {
    /// Connector name.
    pub connector: String,
    /// Remote message id.
    pub remote_id: String,
}

/// A message to deliver through a connector (an [`Outbound`] without its key, which is the
/// outbox row id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteMessage {
    /// The remote conversation.
    pub conversation: String,
    /// The Matrix event.
    pub event_id: String,
    /// Its author.
    pub sender: Sender,
    /// Plain text.
    pub body: String,
    /// Sanitised HTML.
    pub html: Option<String>,
    /// Matrix msgtype.
    pub msgtype: String,
    /// Remote id of the message replied to.
    pub reply_to: Option<String>,
    /// A short quote of the message replied to.
    #[serde(default)]
    pub reply_quote: Option<String>,
    /// Remote id of the message this edits, if it is an edit.
    pub edit_of: Option<String>,
    /// Remote id of the root of the Matrix thread the message is in.
    #[serde(default)]
    pub thread_root: Option<String>,
    /// The ghost of the conversation, who posts notices about this message.
    pub ghost: String,
    /// The file of an `m.image`/`m.file`/… message.
    #[serde(default)]
    pub attachment: Option<MediaRef>,
    /// What to do: deliver this message, or act on an earlier one.
    #[serde(default)]
    pub action: RemoteAction,
}

/// A remote send other than a plain message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RemoteAction {
    /// Deliver the message (or its edit, with `edit_of`).
    #[default]
    Message,
    /// Set the sender's complete reaction set on `target`.
    React {
        /// Remote id of the message.
        target: String,
        /// Every reaction the sender now has on it.
        keys: Vec<String>,
    },
    /// Retract the remote message `target`.
    Retract {
        /// Remote id of the message.
        target: String,
    },
}

/// A Matrix file to fetch when the send is attempted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// Its `mxc://` URI.
    pub mxc: String,
    /// File name.
    pub filename: String,
    /// MIME type, if the sender's client gave one.
    pub mimetype: Option<String>,
    /// Size the sender's client declared, if any.
    pub size: Option<u64>,
}

/// Builds an outbox row for a Matrix event.
pub(super) fn to_matrix(room_id: &str, event: MatrixEvent) -> NewOutbox {
    NewOutbox {
        direction: Direction::Matrix,
        connector: None,
        room_id: room_id.to_owned(),
        payload: serde_json::to_string(&Send::Matrix(event)).unwrap_or_default(),
    }
}

/// Builds an outbox row for a remote message.
pub(super) fn to_remote(room_id: &str, connector: &str, message: RemoteMessage) -> NewOutbox {
    NewOutbox {
        direction: Direction::Remote,
        connector: Some(connector.to_owned()),
        room_id: room_id.to_owned(),
        payload: serde_json::to_string(&Send::Remote(message)).unwrap_or_default(),
    }
}

/// A redaction of `event_id` by `sender` (a ghost, or the bot if `None`).
pub(super) fn redact(room_id: &str, sender: Option<&str>, event_id: &str) -> NewOutbox {
    NewOutbox {
        direction: Direction::Matrix,
        connector: None,
        room_id: room_id.to_owned(),
        payload: serde_json::to_string(&Send::Redact(RedactEvent {
            sender: sender.map(str::to_owned),
            event_id: event_id.to_owned(),
            reason: None,
        }))
        .unwrap_or_default(),
    }
}

/// An `m.notice` from `sender` (a ghost, or the bot if `None`), replying to `about` if given.
pub(super) fn notice(
    room_id: &str,
    sender: Option<&str>,
    text: &str,
    about: Option<&str>,
) -> NewOutbox {
    let mut content = json!({"msgtype": "m.notice", "body": text});
    if let Some(event_id) = about {
        content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": event_id}});
    }
    to_matrix(
        room_id,
        MatrixEvent {
            sender: sender.map(str::to_owned),
            event_type: "m.room.message".into(),
            content,
            ts: None,
            remote: None,
            reaction: None,
        },
    )
}

impl Runtime {
    pub(super) async fn handle_send(&self, row: &OutboxRow) -> Outcome {
        let send: Send = match serde_json::from_str(&row.payload) {
            Ok(s) => s,
            Err(e) => {
                return Outcome::Failed {
                    error: format!("unreadable outbox row: {e}"),
                    sends: Vec::new(),
                };
            }
        };
        match send {
            Send::Matrix(event) => self.send_to_matrix(row, event).await,
            Send::Remote(message) => self.send_to_remote(row, message).await,
            Send::Redact(redaction) => self.redact_in_matrix(row, redaction).await,
        }
    }

    async fn send_to_matrix(&self, row: &OutboxRow, event: MatrixEvent) -> Outcome {
        let Ok(room) = RoomId::parse(row.room_id.as_str()) else {
            return Outcome::Failed {
                error: format!("invalid room id {}", row.room_id),
                sends: Vec::new(),
            };
        };
        let sender = match event.sender.as_deref().map(UserId::parse) {
            None => None,
            Some(Ok(u)) => Some(u),
            Some(Err(_)) => {
                return Outcome::Failed {
                    error: "invalid sender".into(),
                    sends: Vec::new(),
                };
            }
        };
        let txn_id = format!("passerelle-{}", row.id);
        let result = self
            .matrix
            .send(
                &room,
                sender.as_deref(),
                &event.event_type,
                &event.content,
                &txn_id,
                event.ts,
            )
            .await;
        match result {
            Ok(event_id) => {
                let sends = match &event.reaction {
                    Some(r) => self.record_reaction_event(r, &row.room_id, &event_id).await,
                    None => Vec::new(),
                };
                let mapping = event.remote.map(|r| MessageMapping {
                    connector: r.connector,
                    remote_id: r.remote_id,
                    room_id: row.room_id.clone(),
                    event_id: event_id.clone(),
                    sender: event.sender.clone().unwrap_or_else(|| self.bot.to_string()),
                });
                Outcome::Sent {
                    result_id: event_id,
                    mapping,
                    sends,
                }
            }
            Err(e) if !e.kind.is_retryable() => {
                // A ghost that left or was never joined: try to join once, then retry.
                if let (Some(ghost), true) = (sender.as_deref(), e.is("M_FORBIDDEN"))
                    && row.attempts == 0
                    && self.bring_in(&room, ghost).await
                {
                    return Outcome::Retry {
                        error: format!("{e}; rejoined the room"),
                        retry_after: Some(std::time::Duration::ZERO),
                    };
                }
                let mut sends = Vec::new();
                // Tell the room, unless the failing event was already the bot's notice.
                if event.sender.is_some() {
                    let what = event
                        .content
                        .get("body")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    let text = format!(
                        "⚠ A message from {} could not be posted in this room: {e}. Text: {}",
                        event.sender.as_deref().unwrap_or("the bridge"),
                        preview(what)
                    );
                    sends.push(notice(&row.room_id, None, &text, None));
                }
                Outcome::Failed {
                    error: e.to_string(),
                    sends,
                }
            }
            Err(e) => e.into(),
        }
    }

    /// Gets a ghost into a room: it joins, or the portal's own ghost (who is in the room, as
    /// a group chat's room ghost is) invites it first.
    pub(super) async fn bring_in(&self, room: &RoomId, ghost: &UserId) -> bool {
        if self.matrix.join(room, Some(ghost)).await.is_ok() {
            return true;
        }
        let Ok(Some(portal)) = self.store.portal_by_room(room.as_str()).await else {
            return false;
        };
        let Some(entry) = self.registry.by_name(&portal.connector) else {
            return false;
        };
        let Ok(host) = self.portal_ghost(entry, &portal) else {
            return false;
        };
        let Ok(host) = UserId::parse(host.as_str()) else {
            return false;
        };
        if host == ghost {
            return false;
        }
        self.matrix.invite(room, Some(&host), ghost).await.is_ok()
            && self.matrix.join(room, Some(ghost)).await.is_ok()
    }

    async fn redact_in_matrix(&self, row: &OutboxRow, redaction: RedactEvent) -> Outcome {
        let (Ok(room), Ok(event)) = (
            RoomId::parse(row.room_id.as_str()),
            ruma::EventId::parse(redaction.event_id.as_str()),
        ) else {
            return Outcome::Failed {
                error: "invalid room or event id".into(),
                sends: Vec::new(),
            };
        };
        let sender = match redaction.sender.as_deref().map(UserId::parse) {
            None => None,
            Some(Ok(u)) => Some(u),
            Some(Err(_)) => {
                return Outcome::Failed {
                    error: "invalid sender".into(),
                    sends: Vec::new(),
                };
            }
        };
        let txn_id = format!("passerelle-{}", row.id);
        match self
            .matrix
            .redact(&room, sender.as_deref(), &event, &txn_id, redaction.reason)
            .await
        {
            Ok(event_id) => Outcome::Sent {
                result_id: event_id,
                mapping: None,
                sends: Vec::new(),
            },
            Err(e) => e.into(),
        }
    }

    async fn send_to_remote(&self, row: &OutboxRow, message: RemoteMessage) -> Outcome {
        let connector_name = row.connector.clone().unwrap_or_default();
        let Some(entry) = self.registry.by_name(&connector_name) else {
            let text =
                format!("⚠ Not delivered: the {connector_name} connector is not enabled any more.");
            return Outcome::Failed {
                error: format!("connector {connector_name} is not configured"),
                sends: vec![notice(
                    &row.room_id,
                    Some(&message.ghost),
                    &text,
                    Some(&message.event_id),
                )],
            };
        };
        let outbound = Outbound {
            key: row.id,
            conversation: message.conversation.clone(),
            event_id: message.event_id.clone(),
            sender: message.sender.clone(),
            body: message.body.clone(),
            html: message.html.clone(),
            msgtype: message.msgtype.clone(),
            reply_to: message.reply_to.clone(),
            reply_quote: message.reply_quote.clone(),
            thread_root: message.thread_root.clone(),
        };
        let connector = &entry.connector;
        let result = match (&message.action, &message.attachment, &message.edit_of) {
            (RemoteAction::React { target, keys }, _, _) => match connector.reactions() {
                Some(r) => r
                    .react(&message.conversation, target, &message.sender, keys)
                    .await
                    .map(|()| format!("{target}#reactions")),
                None => Err(SendError::Unsupported {
                    what: "reactions".into(),
                }),
            },
            (RemoteAction::Retract { target }, _, _) => match connector.redactions() {
                Some(r) => r
                    .redact(&message.conversation, target, &message.sender)
                    .await
                    .map(|()| format!("{target}#retracted")),
                None => Err(SendError::Unsupported {
                    what: "deletions".into(),
                }),
            },
            (RemoteAction::Message, Some(media), _) => {
                self.send_attachment(entry, &outbound, media).await
            }
            (RemoteAction::Message, None, Some(target)) => match connector.edits() {
                Some(edits) => edits.edit(target, &outbound).await,
                None => connector.send(&outbound).await,
            },
            (RemoteAction::Message, None, None) => connector.send(&outbound).await,
        };
        if !matches!(message.action, RemoteAction::Message) {
            // Actions on earlier messages create no new message to map.
            return match result {
                Ok(id) => Outcome::Sent {
                    result_id: id,
                    mapping: None,
                    sends: Vec::new(),
                },
                Err(SendError::Transient {
                    reason,
                    retry_after,
                }) => Outcome::Retry {
                    error: reason,
                    retry_after,
                },
                Err(e) => {
                    let text = format!("⚠ Not passed on to {}: {e}", message.conversation);
                    Outcome::Failed {
                        error: e.to_string(),
                        sends: vec![notice(
                            &row.room_id,
                            Some(&message.ghost),
                            &text,
                            Some(&message.event_id),
                        )],
                    }
                }
            };
        }
        match result {
            Ok(remote_id) => Outcome::Sent {
                mapping: Some(MessageMapping {
                    connector: connector_name,
                    remote_id: remote_id.clone(),
                    room_id: row.room_id.clone(),
                    event_id: message.event_id.clone(),
                    sender: message.sender.user_id.clone(),
                }),
                result_id: remote_id,
                sends: Vec::new(),
            },
            Err(SendError::Transient {
                reason,
                retry_after,
            }) => Outcome::Retry {
                error: reason,
                retry_after,
            },
            Err(e @ (SendError::Permanent { .. } | SendError::Unsupported { .. })) => {
                let text = format!(
                    "⚠ Your message was not delivered to {}: {e}",
                    message.conversation
                );
                Outcome::Failed {
                    error: e.to_string(),
                    sends: vec![notice(
                        &row.room_id,
                        Some(&message.ghost),
                        &text,
                        Some(&message.event_id),
                    )],
                }
            }
        }
    }

    /// Downloads a Matrix file (within `homeserver.max_media_size`) and hands it to the connector.
    async fn send_attachment(
        &self,
        entry: &crate::connectors::Entry,
        outbound: &Outbound,
        media: &MediaRef,
    ) -> Result<String, SendError> {
        let Some(sender) = entry.connector.media() else {
            return Err(SendError::Unsupported {
                what: "files".into(),
            });
        };
        let limit = self.config.homeserver.max_media_size.as_u64();
        if media.size.is_some_and(|size| size > limit) {
            return Err(SendError::Permanent {
                reason: format!(
                    "the file is larger than the {} limit",
                    self.config.homeserver.max_media_size
                ),
            });
        }
        let mxc = <&ruma::MxcUri>::from(media.mxc.as_str());
        let (data, content_type) = self.matrix.download(mxc).await.map_err(|e| match e.kind {
            crate::matrix::RetryKind::Permanent => SendError::Permanent {
                reason: format!("cannot fetch the file: {e}"),
            },
            crate::matrix::RetryKind::Transient { retry_after } => SendError::Transient {
                reason: format!("cannot fetch the file: {e}"),
                retry_after,
            },
            crate::matrix::RetryKind::Network => SendError::Transient {
                reason: format!("cannot fetch the file: {e}"),
                retry_after: None,
            },
        })?;
        let file = Attachment {
            filename: media.filename.clone(),
            content_type: media
                .mimetype
                .clone()
                .or(content_type)
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
            link: self
                .config
                .media
                .public_url
                .as_ref()
                .and_then(|base| self.links.link(base, &media.mxc, &media.filename)),
            data,
        };
        sender.send_media(outbound, &file).await
    }

    /// Stores the event id of a reaction just posted; if the reaction was withdrawn meanwhile,
    /// queues the redaction of the event.
    async fn record_reaction_event(
        &self,
        r: &ReactionRef,
        room_id: &str,
        event_id: &str,
    ) -> Vec<NewOutbox> {
        let still_there = match self
            .store
            .reactions_of(&r.connector, &r.target, &r.sender)
            .await
        {
            Ok(list) => list.iter().any(|x| x.key == r.key),
            Err(_) => true,
        };
        if !still_there {
            return vec![redact(room_id, None, event_id)];
        }
        let row = crate::store::Reaction {
            connector: r.connector.clone(),
            target: r.target.clone(),
            sender: r.sender.clone(),
            key: r.key.clone(),
            room_id: room_id.to_owned(),
            event_id: Some(event_id.to_owned()),
        };
        if let Err(e) = self.store.upsert_reaction(&row).await {
            tracing::warn!(error = %e, "Could not record a reaction's event id.");
        }
        Vec::new()
    }

    /// The notice telling a room a send keeps failing.
    pub(super) async fn still_trying_notice(
        &self,
        row: &OutboxRow,
        error: &str,
    ) -> Option<NewOutbox> {
        match serde_json::from_str::<Send>(&row.payload).ok()? {
            Send::Remote(m) => Some(notice(
                &row.room_id,
                Some(&m.ghost),
                &format!(
                    "⏳ Not delivered to {} yet ({error}); still trying.",
                    m.conversation
                ),
                Some(&m.event_id),
            )),
            Send::Matrix(_) | Send::Redact(_) => None,
        }
    }
}

fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(80).collect();
    if text.chars().count() > 80 {
        out.push('…');
    }
    out
}
