//! The connector contract: what a remote network (email, XMPP, SMS, …) implements.
//!
//! Small on purpose. Ordering, deduplication, retries, permissions and user-visible status
//! belong to the runtime; a connector only translates between its network and the
//! [`Outbound`] / [`Inbound`] messages below.

use std::{fmt, time::Duration};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// A remote network.
///
/// `run` is started once and must return when `ctx.shutdown` is cancelled. `send` may be called
/// concurrently for different rooms, never for two messages of the same room at once, and may be
/// repeated with the same [`Outbound::key`] after a crash: it must not deliver twice for one key
/// where the network allows it (a deterministic Message-ID, an idempotency header, …).
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// Stable short name used in ghost localparts, the database and logs (`sms`, `email`, …).
    fn name(&self) -> &str;

    /// What this network can carry.
    fn capabilities(&self) -> Capabilities;

    /// Receives from the network until `ctx.shutdown` fires. Acknowledge a remote message to the
    /// network only after `ctx.inbound.commit(..)` returned `Ok`.
    async fn run(&self, ctx: ConnectorCtx) -> Result<(), ConnectorError>;

    /// Delivers one message; returns the remote message id.
    async fn send(&self, message: &Outbound) -> Result<String, SendError>;

    /// Canonicalises a user-supplied identifier (phone number, address, JID) into a remote id,
    /// or explains why it is not valid.
    fn resolve_identifier(&self, input: &str) -> Result<String, String>;

    /// The contact (ghost remote id) of a conversation. By default a conversation is one
    /// contact; a network whose direct chats are per Matrix user (XMPP) overrides this and
    /// [`Connector::conversation_for`] together.
    fn contact_of<'a>(&self, conversation: &'a str) -> &'a str {
        conversation
    }

    /// Tells the connector a conversation has a portal (at start for every existing portal,
    /// then for each new one), so it can subscribe to it (e.g. join an XMPP group chat).
    fn open_conversation(&self, _conversation: &str) {}

    /// True for a group conversation (many remote participants), which a room alias may name.
    fn is_group(&self, _conversation: &str) -> bool {
        false
    }

    /// The conversation a Matrix user starts by inviting `contact`'s ghost.
    fn conversation_for(&self, contact: &str, _inviter: &str) -> String {
        contact.to_owned()
    }

    /// The contact's name as the network publishes it (a profile, a vCard), if it does; asked
    /// when a ghost is created without a name.
    async fn display_name(&self, _contact: &str) -> Option<String> {
        None
    }

    /// Third-party protocol description, for `/thirdparty/protocol/{protocol}` lookups.
    fn protocol(&self) -> Option<ThirdPartyProtocol> {
        None
    }

    /// Current state of the running connector, for `/ready` and logs; cheap.
    async fn health(&self) -> Health;

    /// An active check for `passerelle doctor`, without `run`: connect, authenticate, disconnect.
    async fn probe(&self) -> Health;

    /// Edits, if the network supports them.
    fn edits(&self) -> Option<&dyn Edits> {
        None
    }

    /// Reactions, if the network supports them.
    fn reactions(&self) -> Option<&dyn Reactions> {
        None
    }

    /// Deletions, if the network supports them.
    fn redactions(&self) -> Option<&dyn Redactions> {
        None
    }

    /// Typing notifications, if the network supports them.
    fn typing(&self) -> Option<&dyn Typing> {
        None
    }

    /// Read receipts, if the network supports them.
    fn receipts(&self) -> Option<&dyn Receipts> {
        None
    }

    /// Files and images, if the network supports them.
    fn media(&self) -> Option<&dyn Media> {
        None
    }
}

/// Sending files.
#[async_trait]
pub trait Media: Send + Sync {
    /// Delivers `file` with `message.body` as its caption; returns the remote message id.
    /// Same idempotency rule as [`Connector::send`].
    async fn send_media(&self, message: &Outbound, file: &Attachment) -> Result<String, SendError>;
}

/// A file downloaded from Matrix, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// The bytes (already checked against the size limits).
    pub data: Vec<u8>,
    /// A public link to the same file (`media.public_url`), for networks that carry links.
    pub link: Option<String>,
}

/// Editing a message already sent.
#[async_trait]
pub trait Edits: Send + Sync {
    /// Replaces the remote message `target` with `new`; returns the id of the correction.
    async fn edit(&self, target: &str, new: &Outbound) -> Result<String, SendError>;
}

/// Adding and removing reactions.
#[async_trait]
pub trait Reactions: Send + Sync {
    /// Sets the full set of `sender`'s reactions on the remote message `target`.
    async fn react(
        &self,
        conversation: &str,
        target: &str,
        sender: &Sender,
        reactions: &[String],
    ) -> Result<(), SendError>;
}

/// Deleting messages.
#[async_trait]
pub trait Redactions: Send + Sync {
    /// Retracts the remote message `target`.
    async fn redact(
        &self,
        conversation: &str,
        target: &str,
        sender: &Sender,
    ) -> Result<(), SendError>;
}

/// Typing notifications.
#[async_trait]
pub trait Typing: Send + Sync {
    /// Tells the conversation whether `sender` is typing.
    async fn typing(
        &self,
        conversation: &str,
        sender: &Sender,
        typing: bool,
    ) -> Result<(), SendError>;
}

/// Read receipts.
#[async_trait]
pub trait Receipts: Send + Sync {
    /// Tells the conversation `sender` has read up to the remote message `target`.
    async fn read(
        &self,
        conversation: &str,
        target: &str,
        sender: &Sender,
    ) -> Result<(), SendError>;
}

/// What a network can carry; the runtime degrades the rest visibly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Formatted (HTML) bodies.
    pub formatted: bool,
    /// Attachments.
    pub media: bool,
    /// Largest text body, in bytes, if limited.
    pub max_body_bytes: Option<usize>,
    /// Wants the sender's room display name in [`Sender::display_name`] (e.g. for a `From`
    /// header); costs one homeserver request per message.
    pub sender_names: bool,
}

/// The Matrix user a message comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Full Matrix user id.
    pub user_id: String,
    /// Display name, if known.
    pub display_name: Option<String>,
}

/// A message from Matrix to deliver to the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbound {
    /// Idempotency key: the outbox row id, the same on every retry.
    pub key: i64,
    /// The remote conversation (a contact id for direct chats).
    pub conversation: String,
    /// The Matrix event being bridged.
    pub event_id: String,
    /// Its author.
    pub sender: Sender,
    /// Plain-text body (reply fallbacks already stripped).
    pub body: String,
    /// Sanitised HTML body, if any.
    pub html: Option<String>,
    /// Matrix `msgtype` (`m.text`, `m.emote`, `m.notice`, …).
    pub msgtype: String,
    /// Remote id of the message this one replies to, if it is bridged.
    pub reply_to: Option<String>,
    /// A short quote of the message replied to, for networks that show replies as quotes.
    #[serde(default)]
    pub reply_quote: Option<String>,
    /// Remote id of the first message of the thread this one is in (a Matrix `m.thread`), if
    /// the thread's root is bridged.
    #[serde(default)]
    pub thread_root: Option<String>,
}

/// A message from the network, for the runtime to bridge into Matrix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// The network's message id, unique per connector (the dedup key).
    pub remote_id: String,
    /// The conversation (a contact id for direct chats).
    pub conversation: String,
    /// The author's remote id.
    pub sender: String,
    /// The author's display name, if the network tells.
    pub sender_name: Option<String>,
    /// Plain-text body.
    pub body: String,
    /// Sanitised HTML body, if any.
    pub html: Option<String>,
    /// When the network says it was sent (ms since the epoch).
    pub timestamp_ms: Option<i64>,
    /// Remote id of the message this one replies to.
    pub reply_to: Option<String>,
    /// The Matrix user the message is addressed to, when the network addresses one (XMPP
    /// component JIDs); they are invited to the conversation's room.
    #[serde(default)]
    pub recipient: Option<String>,
    /// A message, or an action on an earlier one.
    #[serde(default)]
    pub kind: InboundKind,
    /// Files the message links to or carries, for the runtime to post (within the media limits).
    #[serde(default)]
    pub files: Vec<RemoteFile>,
    /// Remote id of the first message of the thread this one belongs to: the message is posted
    /// in that message's Matrix thread (`m.thread`).
    #[serde(default)]
    pub thread: Option<String>,
    /// An automated message (an auto-reply, a report): posted as a notice.
    #[serde(default)]
    pub notice: bool,
}

/// A file a remote message points to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteFile {
    /// Where to fetch it (http or https).
    pub url: String,
    /// Its name, if the network gives one.
    pub filename: Option<String>,
    /// Its MIME type, if the network gives one.
    pub content_type: Option<String>,
    /// The file itself, when the message carries it (an email attachment); then `url` only
    /// names it in messages.
    #[serde(default, with = "inline_data", skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<u8>>,
}

/// Inline file bytes as base64 in the stored JSON.
mod inline_data {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        data: &Option<Vec<u8>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match data {
            Some(bytes) => s.serialize_some(&STANDARD.encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| STANDARD.decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// What an inbound item is. Targets are remote message ids of the same connector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundKind {
    /// A new message.
    #[default]
    Message,
    /// A correction: `body` replaces the text of `target`.
    Edit {
        /// The corrected message.
        target: String,
    },
    /// The sender's complete set of reactions on `target` (empty: none left).
    Reactions {
        /// The message reacted to.
        target: String,
        /// Every reaction the sender now has on it.
        keys: Vec<String>,
    },
    /// The sender deleted `target`.
    Retraction {
        /// The deleted message.
        target: String,
    },
    /// The sender started or stopped typing.
    Typing {
        /// Typing now.
        active: bool,
    },
    /// The sender has read `target` (and what came before).
    Read {
        /// The last message read.
        target: String,
    },
    /// The sender (a group chat occupant) joined the conversation.
    Joined,
    /// The sender (a group chat occupant) left the conversation.
    Left,
    /// The sender set the conversation's topic to `body`.
    Topic,
    /// The network reports that `target`, sent from Matrix, was not delivered.
    DeliveryFailed {
        /// The message that bounced.
        target: String,
        /// Why, as the network says it.
        reason: String,
        /// The outbox key it was sent under, when the network echoes it back (it may bounce
        /// before the send is even recorded as done).
        #[serde(default)]
        key: Option<i64>,
    },
}

/// Where a connector hands inbound messages to the runtime.
#[async_trait]
pub trait InboundSink: Send + Sync {
    /// Stores `message` durably; after `Ok` the connector may acknowledge it to the network.
    /// A message already stored under the same `remote_id` is accepted again without effect.
    async fn commit(&self, connector: &str, message: Inbound) -> Result<(), ConnectorError>;

    /// Says the connector is connected again: sends waiting to be retried are tried now
    /// instead of at the end of their backoff.
    fn back_online(&self, connector: &str);

    /// Durably records that `contact` asked to receive no more messages (`opted_out`, with
    /// the `keyword` they used) or asked to receive them again.
    async fn set_opt_out(
        &self,
        _connector: &str,
        _contact: &str,
        _opted_out: bool,
        _keyword: &str,
    ) -> Result<(), ConnectorError> {
        Err(ConnectorError("opt-outs are not stored here".into()))
    }

    /// The keyword `contact` opted out with, if they did and have not opted back in.
    async fn opt_out(
        &self,
        _connector: &str,
        _contact: &str,
    ) -> Result<Option<String>, ConnectorError> {
        Ok(None)
    }
}

/// What the runtime gives a connector's `run`.
#[derive(Clone)]
pub struct ConnectorCtx {
    /// Durable hand-off of inbound messages.
    pub inbound: std::sync::Arc<dyn InboundSink>,
    /// Fires on shutdown.
    pub shutdown: CancellationToken,
    /// The bridge bot's Matrix user id.
    pub bot: String,
}

impl fmt::Debug for ConnectorCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorCtx").finish_non_exhaustive()
    }
}

/// Third-party protocol metadata (`GET /thirdparty/protocol/{protocol}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThirdPartyProtocol {
    /// Protocol id, e.g. `sms`.
    pub id: String,
    /// The one user field, e.g. `number`.
    pub user_field: String,
    /// A regular expression a valid field value matches.
    pub regexp: String,
    /// An example value.
    pub placeholder: String,
    /// Human-readable name of the network.
    pub description: String,
}

/// Connector health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Connected and working.
    Ok,
    /// Working with problems (reconnecting, slow).
    Degraded(String),
    /// Not working; the message says what to fix.
    Down(String),
}

/// A send failure, classified for the runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later with the same key (network error, rate limit, 5xx).
    #[error("temporary failure: {reason}")]
    Transient {
        /// What went wrong.
        reason: String,
        /// When the network asks to retry, if it says.
        retry_after: Option<Duration>,
    },
    /// Will never succeed (invalid recipient, refused content): the user is told.
    #[error("{reason}")]
    Permanent {
        /// What went wrong, shown to the user.
        reason: String,
    },
    /// The network cannot carry this kind of message.
    #[error("not supported by this network: {what}")]
    Unsupported {
        /// What is not supported.
        what: String,
    },
}

/// A connector-level failure (could not start, lost its link for good).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConnectorError(pub String);
