//! The SMS-provider trait: what a gateway (Kannel, …) must do for the SMS connector.

use async_trait::async_trait;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::{
    inbound::Hooks,
    segments::{self, Plan},
};
use crate::connector::{Health, SendError};

/// One message to a phone (mobile-terminated).
#[derive(Debug)]
pub(crate) struct Mt<'a> {
    /// passerelle's own id for it (the outbox key), which delivery reports carry back.
    pub(crate) key: i64,
    /// The organisation's number (E.164).
    pub(crate) from: &'a str,
    /// The contact (E.164).
    pub(crate) to: &'a str,
    /// The whole text.
    pub(crate) text: &'a str,
    /// Its coding and parts, as [`Provider::plan`] made them.
    pub(crate) plan: &'a Plan,
}

/// An SMS gateway.
#[async_trait]
pub(crate) trait Provider: Send + Sync {
    /// How the gateway will encode and split `text` (it decides the segment count).
    fn plan(&self, text: &str) -> Plan {
        segments::plan(text)
    }

    /// Hands one message to the gateway. Transient errors are retried with the same key.
    async fn submit(&self, mt: &Mt<'_>) -> Result<(), SendError>;

    /// The HTTP routes the gateway calls (incoming SMS, delivery reports), served on the
    /// connector's `webhook_bind`; they hand what they receive to `hooks`.
    fn routes(&self, hooks: Hooks) -> Router;

    /// Keeps the provider's own link to the gateway (SMPP) until `shutdown`, handing what
    /// arrives on it to `hooks`. HTTP gateways have none.
    async fn run(&self, _hooks: Hooks, shutdown: CancellationToken) -> Result<(), String> {
        shutdown.cancelled().await;
        Ok(())
    }

    /// The state of that link, if the provider keeps one.
    fn health(&self) -> Option<Health> {
        None
    }

    /// An active check that the gateway answers, for `passerelle doctor`.
    async fn probe(&self) -> Health;
}

/// The HTTP client for an SMS gateway's API: bounded time per request, no redirects (a
/// redirect could carry the credentials elsewhere).
pub(crate) fn gateway_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .connect_timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}
