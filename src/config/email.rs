//! Configuration of the email connector.

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::{InboundRouting, Secret};

/// The email connector: a mailbox read over IMAP, mail sent through an SMTP relay.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConnectorConfig {
    /// Ghost localpart template; `{id}` stands for the escaped address.
    #[serde(default = "default_ghost_template")]
    pub ghost_template: String,
    /// Where mail from a correspondent nobody has written to yet goes.
    #[serde(default)]
    pub inbound: InboundRouting,
    /// The organisation's shared address: mail is sent from it and read from its mailbox.
    pub address: String,
    /// The organisation's name, shown in `From` as "Alice Martin via <name>".
    pub display_name: String,
    /// `Reply-To` of sent mail; none: replies go to `address`.
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The mailbox passerelle reads.
    pub imap: ImapConfig,
    /// The relay passerelle sends through.
    pub smtp: SmtpConfig,
    /// Subject of a mail started by a new top-level Matrix message; none: its first line.
    #[serde(default)]
    pub new_thread_subject: Option<String>,
    /// Cut the quoted history (`On … wrote:`, `> …`, quoted HTML blocks) from incoming mail.
    #[serde(default = "yes")]
    pub trim_quotes: bool,
    /// Largest mail fetched; bigger mail is left in the mailbox and a notice is posted.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: ByteSize,
    /// Largest attachment bridged either way; bigger ones are replaced by a note.
    #[serde(default = "default_max_attachment_size")]
    pub max_attachment_size: ByteSize,
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded with STARTTLS (IMAP 143, submission 587).
    Starttls,
    /// No encryption: only for a server on loopback.
    Plain,
}

/// What marks a mail as bridged in the mailbox, once Matrix has it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterBridging {
    /// Set the `\Seen` flag.
    Seen,
    /// Move it to `imap.processed_folder`.
    Move,
}

/// The IMAP mailbox.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Server host name (checked against its TLS certificate).
    pub host: String,
    /// Server port.
    #[serde(default = "default_imap_port")]
    pub port: u16,
    /// `tls`, `starttls` or `plain`.
    #[serde(default = "default_security")]
    pub security: Security,
    /// Login name.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// The folder read.
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// `seen` (flag bridged mail) or `move` (to `processed_folder`).
    #[serde(default = "default_after_bridging")]
    pub after_bridging: AfterBridging,
    /// Folder bridged mail is moved to with `after_bridging: move` (created if missing).
    #[serde(default = "default_processed_folder")]
    pub processed_folder: String,
    /// How often to look for mail when the server has no IDLE (and at most between IDLEs).
    #[serde(
        default = "default_poll_interval",
        with = "super::humantime_serde_compat"
    )]
    pub poll_interval: Duration,
}

/// The SMTP relay.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Relay host name (checked against its TLS certificate).
    pub host: String,
    /// Relay port.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `tls`, `starttls` or `plain`.
    #[serde(default = "default_security")]
    pub security: Security,
    /// Login name; none: no authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Password, with `username`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// Name given in EHLO; none: the domain of `address`.
    #[serde(default)]
    pub hello_name: Option<String>,
}

fn default_ghost_template() -> String {
    "_email_{id}".to_owned()
}

fn yes() -> bool {
    true
}

fn default_max_message_size() -> ByteSize {
    ByteSize::mib(25)
}

fn default_max_attachment_size() -> ByteSize {
    ByteSize::mib(10)
}

fn default_imap_port() -> u16 {
    993
}

fn default_smtp_port() -> u16 {
    587
}

fn default_security() -> Security {
    Security::Tls
}

fn default_mailbox() -> String {
    "INBOX".to_owned()
}

fn default_after_bridging() -> AfterBridging {
    AfterBridging::Seen
}

fn default_processed_folder() -> String {
    "Bridged".to_owned()
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(60)
}

/// What is wrong with an email connector's settings, as (key, explanation) pairs.
pub(super) fn problems(c: &EmailConnectorConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if c.address.parse::<lettre::Address>().is_err() {
        problems.push((
            "address",
            format!(
                "`{}` is not an email address like contact@example.org",
                c.address
            ),
        ));
    }
    if let Some(reply_to) = &c.reply_to
        && reply_to.parse::<lettre::Address>().is_err()
    {
        problems.push((
            "reply_to",
            format!("`{reply_to}` is not an email address like contact@example.org"),
        ));
    }
    if c.display_name.chars().any(char::is_control) {
        problems.push(("display_name", "must be one line of text".to_owned()));
    }
    if c.imap.host.trim().is_empty() {
        problems.push(("imap.host", "must name the IMAP server".to_owned()));
    }
    if c.smtp.host.trim().is_empty() {
        problems.push(("smtp.host", "must name the SMTP relay".to_owned()));
    }
    if c.smtp.password.is_some() != c.smtp.username.is_some() {
        problems.push((
            "smtp.username",
            "set both smtp.username and smtp.password, or neither".to_owned(),
        ));
    }
    if c.imap.after_bridging == AfterBridging::Move
        && (c.imap.processed_folder.trim().is_empty() || c.imap.processed_folder == c.imap.mailbox)
    {
        problems.push((
            "imap.processed_folder",
            "must be a folder other than imap.mailbox when after_bridging is `move`".to_owned(),
        ));
    }
    if c.imap.poll_interval < Duration::from_secs(1) {
        problems.push(("imap.poll_interval", "must be at least 1s".to_owned()));
    }
    problems
}
