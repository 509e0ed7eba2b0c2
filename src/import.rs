//! Importing WhatsApp and Telegram group exports into new Matrix rooms.
//!
//! Parsing is sans-I/O: [`whatsapp::parse`] and [`telegram::parse`] turn the text of an export
//! into an [`Export`]; [`source`] reads the transcript and media from a file, a folder or a zip;
//! [`dry_run`] renders the reviewable JSON document; [`run`] sends the history to the
//! homeserver with one ghost per sender.

pub mod cli;
pub mod dry_run;
pub mod formatting;
pub mod ledger;
pub mod report;
pub mod run;
pub mod senders;
pub mod source;
pub mod telegram;
pub mod timezone;
pub mod whatsapp;

use std::fmt;

use serde::Serialize;

/// The network an export comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A WhatsApp "Export chat" transcript.
    #[serde(rename = "whatsapp")]
    WhatsApp,
    /// A Telegram Desktop JSON export.
    Telegram,
}

impl SourceKind {
    /// The name used in JSON, source keys and the room topic.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WhatsApp => "whatsapp",
            Self::Telegram => "telegram",
        }
    }

    /// The name shown to people.
    pub fn display(self) -> &'static str {
        match self {
            Self::WhatsApp => "WhatsApp",
            Self::Telegram => "Telegram",
        }
    }
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Ordinary text.
    Text,
    /// A file, with or without the file itself (see [`Message::attachment`] and
    /// [`Message::omitted`]).
    Media,
    /// A deleted message, kept as the export's own placeholder wording.
    Deleted,
    /// A system event: member added, subject changed, encryption notice, …
    System,
}

impl Kind {
    /// The name used in JSON and in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Media => "media",
            Self::Deleted => "deleted",
            Self::System => "system",
        }
    }
}

/// A file a message refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The file name (WhatsApp) or the path relative to the export folder (Telegram).
    pub filename: String,
}

/// One message of an export, in the export's own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// 0-based position in the file.
    pub index: usize,
    /// Telegram's message id (negative for messages migrated from a basic group).
    pub id: Option<i64>,
    /// 1-based line of the message's first line in the transcript (WhatsApp; 0 for Telegram).
    pub line: usize,
    /// What the message is.
    pub kind: Kind,
    /// The sender's name as shown in the export; `None` for system events and deleted accounts.
    pub sender: Option<String>,
    /// The stable identity the ghost is derived from: the name (WhatsApp), `from_id` (Telegram).
    pub sender_id: Option<String>,
    /// UTC milliseconds since the epoch.
    pub ts_ms: i64,
    /// The text (see the README for the exact rules).
    pub body: String,
    /// True if the export marks the message as edited.
    pub edited: bool,
    /// The Telegram id of the message this one replies to.
    pub reply_to: Option<i64>,
    /// The file this message carries, if the export includes it.
    pub attachment: Option<Attachment>,
    /// True for media the export left out (`<Media omitted>`, skipped Telegram files).
    pub omitted: bool,
    /// The wall-clock time as written in the export (`2023-10-29T02:30:00`), for source keys.
    pub local_time: String,
    /// Telegram's formatted text runs, when the message has formatting (empty otherwise).
    pub spans: Vec<Span>,
}

/// A run of formatted text (a Telegram text entity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The entity type: `plain`, `bold`, `text_link`, `mention_name`, `pre`, …
    pub kind: String,
    /// The run's text.
    pub text: String,
    /// The target of a `text_link`.
    pub href: Option<String>,
    /// The Telegram user of a `mention_name`, as a sender id (`user123`).
    pub user: Option<String>,
    /// The language of a `pre` block.
    pub language: Option<String>,
}

/// A parsed export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Where it comes from.
    pub source: SourceKind,
    /// The chat's name, when the export tells it (WhatsApp: from the file name).
    pub chat_name: Option<String>,
    /// A stable identifier of the chat, the same for a later, longer export of it.
    pub chat_key: String,
    /// The exporter's display name (given, or inferred from "You deleted this message").
    pub exporter: Option<String>,
    /// The messages, in file order.
    pub messages: Vec<Message>,
    /// Senders in order of first appearance: (stable id, name as shown).
    pub senders: Vec<(String, String)>,
    /// Things the operator should review: ambiguities, resolved DST folds, skipped items.
    pub warnings: Vec<String>,
    /// Telegram ids of pinned messages, in pinning order.
    pub pinned: Vec<i64>,
}

impl Export {
    /// Names of the senders, in order of first appearance.
    pub fn sender_names(&self) -> Vec<&str> {
        self.senders.iter().map(|(_, name)| name.as_str()).collect()
    }
}

/// Why an export cannot be read; the message names the file and line and says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError(pub String);

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImportError {}

/// Shorthand for a failed import step.
pub fn err<T>(message: impl Into<String>) -> Result<T, ImportError> {
    Err(ImportError(message.into()))
}
