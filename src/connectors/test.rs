//! The test connector: a small network that lives inside passerelle.
//!
//! It is what the integration tests and the local demo talk to. Contacts are plain names
//! (`alice`, `bob@test`). A message sent to a contact is recorded (in memory and, if
//! `record_path` is set, appended to a JSON-lines file that survives restarts, so a resend
//! after a crash is recognised and not recorded twice). A loopback control API lets a test
//! play the remote side:
//!
//! - `POST /inbound` `{"from": "alice", "text": "hi", "name": "Alice", "id": "m1"}` delivers a
//!   message from a contact (the `id` is the remote message id; one is made up if absent);
//! - `GET /sent` lists what passerelle sent, in order.
//!
//! - `GET /signals` lists the typing notifications and read receipts passerelle passed on.
//!
//! Files are recorded with their name, type and size. Contacts whose name starts with `reject` refuse every message (a permanent failure), and
//! those starting with `flaky` fail twice with a temporary error before accepting. With
//! `echo: true` every message is answered with `echo: <text>`.

use std::{
    collections::BTreeMap,
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use async_trait::async_trait;
use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    config::TestConnectorConfig,
    connector::{
        Attachment, Capabilities, Connector, ConnectorCtx, ConnectorError, Health, Inbound,
        InboundKind, InboundSink, Media, Outbound, Receipts, SendError, Sender, ThirdPartyProtocol,
        Typing,
    },
};

const NAME: &str = "test";

/// One message passerelle sent to the test network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentRecord {
    /// The outbox key it was sent under.
    pub key: i64,
    /// The remote id the network gave it.
    pub remote_id: String,
    /// The contact.
    pub to: String,
    /// The Matrix author.
    pub from: String,
    /// The text.
    pub body: String,
    /// The Matrix event bridged.
    pub event_id: String,
    /// The file sent with it, if any.
    #[serde(default)]
    pub attachment: Option<FileRecord>,
}

/// A file the test network received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Its name.
    pub filename: String,
    /// Its MIME type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: usize,
}

/// A typing notification or read receipt the test network received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signal {
    /// `typing`, `stopped-typing` or `read`.
    pub kind: &'static str,
    /// The contact.
    pub to: String,
    /// The Matrix user.
    pub from: String,
    /// For `read`: the remote message id read.
    pub message: Option<String>,
}

#[derive(Default)]
struct Network {
    sent: Vec<SentRecord>,
    signals: Vec<Signal>,
    by_key: BTreeMap<i64, String>,
    attempts: BTreeMap<i64, u32>,
}

/// The test connector.
pub struct TestConnector(Arc<Shared>);

/// What the connector and its control API share.
struct Shared {
    config: TestConnectorConfig,
    network: Mutex<Network>,
    sink: OnceLock<Arc<dyn InboundSink>>,
}

impl TestConnector {
    /// Creates the connector, reloading `record_path` if it exists.
    pub fn new(config: TestConnectorConfig) -> Self {
        let mut network = Network::default();
        if let Some(path) = &config.record_path
            && let Ok(text) = std::fs::read_to_string(path)
        {
            for line in text.lines() {
                match serde_json::from_str::<SentRecord>(line) {
                    Ok(r) => {
                        network.by_key.insert(r.key, r.remote_id.clone());
                        network.sent.push(r);
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "Skipped a bad record line.")
                    }
                }
            }
        }
        Self(Arc::new(Shared {
            config,
            network: Mutex::new(network),
            sink: OnceLock::new(),
        }))
    }
}

impl Shared {
    /// A contact id: 1–64 letters, digits or `._+@-`, lower-cased.
    fn resolve(input: &str) -> Result<String, String> {
        let contact = input.trim().to_ascii_lowercase();
        let valid = !contact.is_empty()
            && contact.len() <= 64
            && contact
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+@-".contains(&b));
        if valid {
            Ok(contact)
        } else {
            Err(format!(
                "`{input}` is not a test contact: use 1–64 letters, digits or ._+@-"
            ))
        }
    }

    fn record(&self, record: &SentRecord) -> Result<(), SendError> {
        let Some(path) = &self.config.record_path else {
            return Ok(());
        };
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
            line.push(b'\n');
            file.write_all(&line)?;
            file.sync_data()
        };
        write().map_err(|e| SendError::Transient {
            reason: format!("cannot write {}: {e}", path.display()),
            retry_after: None,
        })
    }

    fn control_router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/inbound", post(inject))
            .route("/sent", get(sent))
            .route("/signals", get(signals))
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
            .with_state(self)
    }
}

#[derive(Deserialize)]
struct Injected {
    from: String,
    text: String,
    name: Option<String>,
    id: Option<String>,
    ts: Option<i64>,
}

async fn inject(
    State(me): State<Arc<Shared>>,
    Json(msg): Json<Injected>,
) -> (StatusCode, Json<Value>) {
    let contact = match Shared::resolve(&msg.from) {
        Ok(c) => c,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"error": e}))),
    };
    let Some(sink) = me.sink.get() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "connector not running"})),
        );
    };
    let remote_id = msg
        .id
        .unwrap_or_else(|| format!("in-{}", crate::store::now_ms()));
    let inbound = Inbound {
        remote_id: remote_id.clone(),
        conversation: contact.clone(),
        sender: contact,
        sender_name: msg.name,
        body: msg.text,
        html: None,
        timestamp_ms: msg.ts,
        reply_to: None,
        recipient: None,
        kind: InboundKind::Message,
        ..Inbound::default()
    };
    match sink.commit(NAME, inbound).await {
        Ok(()) => (StatusCode::OK, Json(json!({"remote_id": remote_id}))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": e.to_string()})),
        ),
    }
}

async fn sent(State(me): State<Arc<Shared>>) -> Json<Vec<SentRecord>> {
    let sent = me
        .network
        .lock()
        .map(|n| n.sent.clone())
        .unwrap_or_default();
    Json(sent)
}

async fn signals(State(me): State<Arc<Shared>>) -> Json<Vec<Signal>> {
    Json(
        me.network
            .lock()
            .map(|n| n.signals.clone())
            .unwrap_or_default(),
    )
}

impl Shared {
    /// Records and "delivers" one message; the shared path of text and files.
    fn deliver(
        &self,
        message: &Outbound,
        attachment: Option<FileRecord>,
    ) -> Result<String, SendError> {
        let to = message.conversation.clone();
        let remote_id = {
            let mut net = self.network.lock().map_err(|_| SendError::Permanent {
                reason: "test network state poisoned".into(),
            })?;
            if let Some(existing) = net.by_key.get(&message.key) {
                return Ok(existing.clone());
            }
            if to.starts_with("reject") {
                return Err(SendError::Permanent {
                    reason: format!("the test network refuses messages to {to}"),
                });
            }
            if to.starts_with("flaky") {
                let attempts = net.attempts.entry(message.key).or_insert(0);
                *attempts += 1;
                if *attempts <= 2 {
                    return Err(SendError::Transient {
                        reason: format!("{to} is unreachable for now"),
                        retry_after: None,
                    });
                }
            }
            format!("out-{}", message.key)
        };
        let record = SentRecord {
            key: message.key,
            remote_id: remote_id.clone(),
            to: to.clone(),
            from: message.sender.user_id.clone(),
            body: message.body.clone(),
            event_id: message.event_id.clone(),
            attachment,
        };
        self.record(&record)?;
        if let Ok(mut net) = self.network.lock() {
            net.by_key.insert(record.key, remote_id.clone());
            net.sent.push(record);
        }
        if self.config.echo {
            self.echo(message, &remote_id);
        }
        Ok(remote_id)
    }

    fn echo(&self, message: &Outbound, remote_id: &str) {
        let Some(sink) = self.sink.get() else { return };
        let echo = Inbound {
            remote_id: format!("echo-{}", message.key),
            conversation: message.conversation.clone(),
            sender: message.conversation.clone(),
            sender_name: None,
            body: format!("echo: {}", message.body),
            html: None,
            timestamp_ms: None,
            reply_to: Some(remote_id.to_owned()),
            recipient: None,
            kind: InboundKind::Message,
            ..Inbound::default()
        };
        let sink = sink.clone();
        tokio::spawn(async move {
            if let Err(e) = sink.commit(NAME, echo).await {
                tracing::warn!(error = %e, "Echo reply not stored.");
            }
        });
    }

    fn signal(&self, signal: Signal) {
        if let Ok(mut net) = self.network.lock() {
            net.signals.push(signal);
        }
    }
}

#[async_trait]
impl Media for TestConnector {
    async fn send_media(&self, message: &Outbound, file: &Attachment) -> Result<String, SendError> {
        let record = FileRecord {
            filename: file.filename.clone(),
            content_type: file.content_type.clone(),
            size: file.data.len(),
        };
        self.0.deliver(message, Some(record))
    }
}

#[async_trait]
impl Typing for TestConnector {
    async fn typing(
        &self,
        conversation: &str,
        sender: &Sender,
        typing: bool,
    ) -> Result<(), SendError> {
        self.0.signal(Signal {
            kind: if typing { "typing" } else { "stopped-typing" },
            to: conversation.to_owned(),
            from: sender.user_id.clone(),
            message: None,
        });
        Ok(())
    }
}

#[async_trait]
impl Receipts for TestConnector {
    async fn read(
        &self,
        conversation: &str,
        target: &str,
        sender: &Sender,
    ) -> Result<(), SendError> {
        self.0.signal(Signal {
            kind: "read",
            to: conversation.to_owned(),
            from: sender.user_id.clone(),
            message: Some(target.to_owned()),
        });
        Ok(())
    }
}

#[async_trait]
impl Connector for TestConnector {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            formatted: false,
            media: false,
            max_body_bytes: Some(64 * 1024),
            sender_names: false,
        }
    }

    async fn run(&self, ctx: ConnectorCtx) -> Result<(), ConnectorError> {
        let _ = self.0.sink.set(ctx.inbound.clone());
        let listener = tokio::net::TcpListener::bind(self.0.config.control_bind)
            .await
            .map_err(|e| {
                ConnectorError(format!(
                    "connectors[type=test].control_bind {}: {e}",
                    self.0.config.control_bind
                ))
            })?;
        tracing::info!(address = %self.0.config.control_bind, "Test network control API listening.");
        axum::serve(listener, self.0.clone().control_router())
            .with_graceful_shutdown(ctx.shutdown.cancelled_owned())
            .await
            .map_err(|e| ConnectorError(format!("test network control API: {e}")))
    }

    async fn send(&self, message: &Outbound) -> Result<String, SendError> {
        self.0.deliver(message, None)
    }

    fn media(&self) -> Option<&dyn Media> {
        Some(self)
    }

    fn typing(&self) -> Option<&dyn Typing> {
        Some(self)
    }

    fn receipts(&self) -> Option<&dyn Receipts> {
        Some(self)
    }

    fn resolve_identifier(&self, input: &str) -> Result<String, String> {
        Shared::resolve(input)
    }

    fn protocol(&self) -> Option<ThirdPartyProtocol> {
        Some(ThirdPartyProtocol {
            id: NAME.to_owned(),
            user_field: "contact".to_owned(),
            regexp: "[A-Za-z0-9._+@-]{1,64}".to_owned(),
            placeholder: "alice".to_owned(),
            description: "passerelle test network".to_owned(),
        })
    }

    async fn probe(&self) -> Health {
        match tokio::net::TcpListener::bind(self.0.config.control_bind).await {
            Ok(_) => Health::Ok,
            Err(e) => Health::Degraded(format!(
                "control_bind {} is taken ({e}); fine if passerelle is running",
                self.0.config.control_bind
            )),
        }
    }

    async fn health(&self) -> Health {
        if self.0.sink.get().is_some() {
            Health::Ok
        } else {
            Health::Down("not started".to_owned())
        }
    }
}
