//! The email connector: the organisation's mailbox read over IMAP (IDLE, or polling), mail sent
//! through its SMTP relay. One ghost per correspondent address; each mail thread is a Matrix
//! thread; bounces become failure notices on the bounced message.

mod address;
mod compose;
mod dsn;
mod imap;
mod inbound;
pub(crate) mod parse;
mod quotes;
mod reader;
mod smtp;

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use lettre::message::Mailbox;

use crate::{
    config::EmailConnectorConfig,
    connector::{
        Attachment, Capabilities, Connector, ConnectorCtx, ConnectorError, Health, Media, Outbound,
        SendError, ThirdPartyProtocol,
    },
    matrix::backoff,
    store::{EmailThreadEntry, Store},
};

const NAME: &str = "email";

/// The email connector.
pub struct EmailConnector {
    config: EmailConnectorConfig,
    store: Option<Store>,
    smtp: Result<smtp::Transport, String>,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl EmailConnector {
    /// Creates the connector; `store` keeps its mailbox position and threads (`None` only for
    /// `passerelle doctor`, which just probes).
    pub fn new(config: EmailConnectorConfig, store: Option<Store>) -> Self {
        let domain = domain_of(&config.address).to_owned();
        let smtp = smtp::transport(&config.smtp, &domain);
        Self {
            config,
            store,
            smtp,
            connected: AtomicBool::new(false),
            last_error: Mutex::new(None),
        }
    }

    fn store(&self) -> Result<&Store, String> {
        self.store
            .as_ref()
            .ok_or_else(|| "the email connector runs without its database".to_owned())
    }

    fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
        if up {
            self.set_error(None);
        }
    }

    fn set_error(&self, error: Option<String>) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = error;
        }
    }

    /// True for the organisation's own address (or its Reply-To).
    fn is_own(&self, address: &str) -> bool {
        address.eq_ignore_ascii_case(&self.config.address)
            || self
                .config
                .reply_to
                .as_deref()
                .is_some_and(|r| address.eq_ignore_ascii_case(r))
    }

    /// Where the message goes in mail terms: subject, parent and references.
    async fn envelope(&self, message: &Outbound) -> Result<compose::Envelope, SendError> {
        let store = self.store().map_err(transient)?;
        let mut to = Vec::new();
        for member in address::members(&message.conversation) {
            let checked = address::normalize(member)
                .and_then(|a| a.parse::<Mailbox>().map_err(|e| format!("`{a}`: {e}")))
                .map_err(|reason| SendError::Permanent { reason })?;
            to.push(checked);
        }
        if to.is_empty() {
            return Err(SendError::Permanent {
                reason: "this conversation has no email address".into(),
            });
        }
        let own = self
            .config
            .address
            .parse()
            .map_err(|e| SendError::Permanent {
                reason: format!("connectors[type=email].address: {e}"),
            })?;
        let from = Mailbox::new(
            Some(compose::from_name(
                message.sender.display_name.as_deref(),
                &self.config.display_name,
            )),
            own,
        );
        let reply_to = match &self.config.reply_to {
            Some(r) => Some(Mailbox::new(
                None,
                r.parse().map_err(|e| SendError::Permanent {
                    reason: format!("connectors[type=email].reply_to: {e}"),
                })?,
            )),
            None => None,
        };
        let message_id = compose::message_id(&message.event_id, domain_of(&self.config.address));
        // The mail replied to: the message answered, else the thread's latest mail.
        let entry_of = |id: String| async move {
            store
                .email_thread_entry(NAME, &id)
                .await
                .map_err(|e| transient(e.to_string()))
        };
        let mut parent = match &message.reply_to {
            Some(id) => entry_of(id.clone()).await?,
            None => None,
        };
        if parent.is_none()
            && let Some(root) = &message.thread_root
        {
            parent = store
                .email_thread_latest(NAME, root)
                .await
                .map_err(|e| transient(e.to_string()))?
                .filter(|e| e.message_id != message_id);
        }
        let (subject, in_reply_to, references, root, thread_subject) = match parent {
            Some(p) => (
                format!("Re: {}", p.subject),
                Some(p.message_id.clone()),
                p.refs
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
                p.thread_root.clone(),
                p.subject.clone(),
            ),
            None => {
                let subject =
                    compose::new_subject(self.config.new_thread_subject.as_deref(), &message.body);
                (
                    subject.clone(),
                    None,
                    Vec::new(),
                    message_id.clone(),
                    subject,
                )
            }
        };
        let mut refs = references.clone();
        refs.push(message_id.clone());
        let keep = refs.len().saturating_sub(20);
        store
            .email_thread_insert(
                NAME,
                &EmailThreadEntry {
                    message_id: message_id.clone(),
                    thread_root: root,
                    subject: thread_subject,
                    refs: refs[keep..].join(" "),
                    conversation: message.conversation.clone(),
                },
            )
            .await
            .map_err(|e| transient(e.to_string()))?;
        Ok(compose::Envelope {
            from,
            reply_to,
            to,
            subject,
            message_id,
            in_reply_to,
            references,
        })
    }

    async fn deliver(
        &self,
        message: &Outbound,
        file: Option<&Attachment>,
    ) -> Result<String, SendError> {
        if let Some(file) = file
            && file.data.len() as u64 > self.config.max_attachment_size.as_u64()
        {
            return Err(SendError::Permanent {
                reason: format!(
                    "{} is larger than the {} mail attachment limit",
                    file.filename, self.config.max_attachment_size
                ),
            });
        }
        let envelope = self.envelope(message).await?;
        let mail = compose::build(&envelope, message, file)
            .map_err(|reason| SendError::Permanent { reason })?;
        let transport = self.smtp.as_ref().map_err(|e| transient(e.clone()))?;
        smtp::send(transport, mail).await?;
        Ok(envelope.message_id)
    }
}

#[async_trait]
impl Connector for EmailConnector {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            formatted: true,
            media: true,
            max_body_bytes: None,
            sender_names: true,
        }
    }

    async fn run(&self, ctx: ConnectorCtx) -> Result<(), ConnectorError> {
        let mut attempt = 0u32;
        while !ctx.shutdown.is_cancelled() {
            let result = match imap::connect(&self.config.imap).await {
                Ok(session) => {
                    attempt = 0;
                    tracing::info!(connector = NAME, server = %self.config.imap.host, "Connected to the mailbox.");
                    self.serve(session, &ctx).await
                }
                Err(e) => Err(e),
            };
            self.set_connected(false);
            match result {
                Ok(reader::End::Shutdown) => break,
                Err(e) => {
                    let delay = backoff(attempt, Duration::from_secs(30), None);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(connector = NAME, error = %e, retry_in = ?delay, "Mailbox connection lost; reconnecting.");
                    self.set_error(Some(e));
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = ctx.shutdown.cancelled() => break,
                    }
                }
            }
        }
        Ok(())
    }

    async fn send(&self, message: &Outbound) -> Result<String, SendError> {
        self.deliver(message, None).await
    }

    fn resolve_identifier(&self, input: &str) -> Result<String, String> {
        let address = address::normalize(input)?;
        if self.is_own(&address) {
            return Err(format!("{address} is the bridge's own address"));
        }
        Ok(address)
    }

    fn is_group(&self, conversation: &str) -> bool {
        address::is_group(conversation)
    }

    /// A group conversation's room is hosted by its first correspondent's ghost (every
    /// correspondent's ghost joins it).
    fn contact_of<'a>(&self, conversation: &'a str) -> &'a str {
        address::members(conversation)
            .next()
            .unwrap_or(conversation)
    }

    fn protocol(&self) -> Option<ThirdPartyProtocol> {
        Some(ThirdPartyProtocol {
            id: "email".into(),
            user_field: "address".into(),
            regexp: r"^[^@\s]+@[^@\s]+\.[^@\s]+$".into(),
            placeholder: "name@example.org".into(),
            description: "Email".into(),
        })
    }

    async fn health(&self) -> Health {
        if self.connected.load(Ordering::Relaxed) {
            return Health::Ok;
        }
        let error = self.last_error.lock().ok().and_then(|e| e.clone());
        Health::Down(error.unwrap_or_else(|| "not connected to the mailbox yet".into()))
    }

    async fn probe(&self) -> Health {
        let imap = match imap::connect(&self.config.imap).await {
            Ok(mut session) => {
                let selected = session.select(&self.config.imap.mailbox).await;
                let _ = session.logout().await;
                selected
                    .map(|_| ())
                    .map_err(|e| format!("folder `{}`: {e}", self.config.imap.mailbox))
            }
            Err(e) => Err(e),
        };
        let smtp = match &self.smtp {
            Ok(t) => match t.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!(
                    "SMTP {}:{} did not answer",
                    self.config.smtp.host, self.config.smtp.port
                )),
                Err(e) => Err(format!(
                    "SMTP {}:{}: {e}",
                    self.config.smtp.host, self.config.smtp.port
                )),
            },
            Err(e) => Err(e.clone()),
        };
        match (imap, smtp) {
            (Ok(()), Ok(())) => Health::Ok,
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Health::Down(e),
            (Err(a), Err(b)) => Health::Down(format!("{a}; {b}")),
        }
    }

    fn media(&self) -> Option<&dyn Media> {
        Some(self)
    }
}

#[async_trait]
impl Media for EmailConnector {
    async fn send_media(&self, message: &Outbound, file: &Attachment) -> Result<String, SendError> {
        self.deliver(message, Some(file)).await
    }
}

fn transient(reason: String) -> SendError {
    SendError::Transient {
        reason,
        retry_after: None,
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("localhost", |(_, d)| d)
}
