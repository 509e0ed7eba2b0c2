//! The SMS connector: the organisation's number, shared by all staff, through its gateway.
//!
//! Contacts are phone numbers in E.164 (`+33612345678`, ghost `@_sms_+33612345678:…`); what
//! users write is normalised with the configured default region ([`number`]). Before a send,
//! the connector refuses (with a notice, through the runtime) numbers that are not valid,
//! contacts who opted out (`STOP`), and texts longer than `max_segments` SMS ([`segments`]
//! counts them with the real GSM 03.38 / UCS-2 rules); then it waits for its turn under
//! `rate_limit` and hands the text to the [`provider`]. The gateway's callbacks — incoming
//! SMS, delivery reports — are served on `webhook_bind` and become inbound items
//! ([`inbound`]): a delivered report is a read receipt from the contact's ghost, a failed one a
//! notice on the message.

mod inbound;
mod kannel;
pub(crate) mod number;
mod provider;
mod rate;
pub(crate) mod segments;
pub(crate) mod smpp;
mod twilio;

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::{Json, Router, routing::get};
use phonenumber::country;
use serde_json::json;

use self::{
    inbound::{Hooks, Refused},
    provider::{Mt, Provider},
    rate::RateLimit,
};
use crate::{
    config::{SmsConnectorConfig, SmsProviderConfig},
    connector::{
        Capabilities, Connector, ConnectorCtx, ConnectorError, Health, InboundSink, Outbound,
        SendError, ThirdPartyProtocol,
    },
    store::Store,
};

/// The connector's name (ghosts, database, third-party protocol).
const NAME: &str = "sms";

/// The remote id of the message sent under outbox key `key`; delivery reports name it.
fn remote_id(key: i64) -> String {
    format!("sms-{key}")
}

/// The SMS connector.
pub struct SmsConnector {
    config: SmsConnectorConfig,
    /// The default region; `None` if the configuration's is invalid (validation says so).
    region: Option<country::Id>,
    provider: Box<dyn Provider>,
    rate: RateLimit,
    sink: OnceLock<Arc<dyn InboundSink>>,
    /// Messages the gateway refused outright.
    refused: Arc<Refused>,
}

impl SmsConnector {
    /// Creates the connector, keeping its gateway state in `store` (`None` when it is only
    /// probed); it serves its webhook when the runtime starts it.
    pub fn new(config: SmsConnectorConfig, store: Option<Store>) -> Self {
        let provider: Box<dyn Provider> = match &config.provider {
            SmsProviderConfig::Kannel(k) => {
                Box::new(kannel::Kannel::new(k.clone(), config.webhook_url.clone()))
            }
            SmsProviderConfig::Smpp(c) => Box::new(smpp::Smpp::new(c.clone(), store)),
            SmsProviderConfig::Twilio(c) => {
                Box::new(twilio::Twilio::new(c.clone(), config.webhook_url.clone()))
            }
        };
        Self {
            region: number::region(&config.default_region).ok(),
            rate: RateLimit::new(config.rate_limit),
            provider,
            config,
            sink: OnceLock::new(),
            refused: Arc::default(),
        }
    }

    /// The connector over another provider (tests).
    #[cfg(test)]
    fn with_provider(config: SmsConnectorConfig, provider: Box<dyn Provider>) -> Self {
        Self {
            provider,
            ..Self::new(config, None)
        }
    }

    fn region(&self) -> Result<country::Id, String> {
        self.region.ok_or_else(|| {
            format!(
                "connectors[type=sms].default_region `{}` is not a region code",
                self.config.default_region
            )
        })
    }
}

/// Problems in an SMS connector's configuration: (key below the connector, what to do).
pub(crate) fn config_problems(config: &SmsConnectorConfig) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    match number::region(&config.default_region) {
        Ok(region) => {
            if let Err(e) = number::normalise(&config.number, region) {
                problems.push((
                    "number",
                    format!("{e}: the organisation's number SMS are sent from"),
                ));
            }
        }
        Err(e) => problems.push(("default_region", e)),
    }
    if config.max_segments == 0 {
        problems.push(("max_segments", "must be at least 1".to_owned()));
    }
    if !(config.rate_limit >= 0.0 && config.rate_limit.is_finite()) {
        problems.push((
            "rate_limit",
            "must be a number of messages per second, 0 for no limit".to_owned(),
        ));
    }
    if !matches!(config.webhook_url.scheme(), "http" | "https") {
        problems.push((
            "webhook_url",
            "must be an http:// or https:// URL".to_owned(),
        ));
    }
    match &config.provider {
        SmsProviderConfig::Kannel(k) => {
            if !matches!(k.sendsms_url.scheme(), "http" | "https") {
                problems.push((
                    "provider.sendsms_url",
                    "must be Kannel's http:// sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms"
                        .to_owned(),
                ));
            }
        }
        SmsProviderConfig::Smpp(c) => {
            if !c.server.contains(':') {
                problems.push((
                    "provider.server",
                    "must be host:port of the SMSC, e.g. 127.0.0.1:2775".to_owned(),
                ));
            }
            if c.system_id.is_empty() || c.system_id.len() > 15 {
                problems.push((
                    "provider.system_id",
                    "must be the 1–15 character system_id the SMSC gave you".to_owned(),
                ));
            }
            if c.response_timeout.is_zero() || c.enquire_link_interval.is_zero() {
                problems.push((
                    "provider.enquire_link_interval",
                    "enquire_link_interval and response_timeout must be longer than zero"
                        .to_owned(),
                ));
            }
            if c.reassembly_timeout.is_zero() {
                problems.push((
                    "provider.reassembly_timeout",
                    "must be longer than zero: how long parts of an incoming long SMS wait for the rest, e.g. \"1h\""
                        .to_owned(),
                ));
            }
        }
        SmsProviderConfig::Twilio(c) => {
            if !matches!(c.api_url.scheme(), "http" | "https") {
                problems.push((
                    "provider.api_url",
                    "must be the API's https:// URL, e.g. https://api.twilio.com".to_owned(),
                ));
            }
            if !c.account_sid.starts_with("AC") {
                problems.push((
                    "provider.account_sid",
                    "must be the account SID (AC…) from the provider's console".to_owned(),
                ));
            }
        }
    }
    problems
}

/// Keys of an SMS connector that still hold placeholder secrets.
pub(crate) fn placeholders(config: &SmsConnectorConfig) -> Vec<&'static str> {
    let mut keys = Vec::new();
    match &config.provider {
        SmsProviderConfig::Kannel(k) => {
            if k.password.is_placeholder() {
                keys.push("connectors[type=sms].provider.password");
            }
            if k.webhook_token.is_placeholder() {
                keys.push("connectors[type=sms].provider.webhook_token");
            }
        }
        SmsProviderConfig::Smpp(c) => {
            if c.password.is_placeholder() {
                keys.push("connectors[type=sms].provider.password");
            }
        }
        SmsProviderConfig::Twilio(c) => {
            if c.auth_token.is_placeholder() {
                keys.push("connectors[type=sms].provider.auth_token");
            }
        }
    }
    keys
}

#[async_trait]
impl Connector for SmsConnector {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            formatted: false,
            media: false,
            max_body_bytes: None,
            sender_names: false,
        }
    }

    async fn run(&self, ctx: ConnectorCtx) -> Result<(), ConnectorError> {
        let region = self.region().map_err(ConnectorError)?;
        let _ = self.sink.set(ctx.inbound.clone());
        let hooks = Hooks::new(
            ctx.inbound.clone(),
            region,
            &self.config.opt_out_keywords,
            &self.config.opt_in_keywords,
            self.refused.clone(),
        );
        let router = Router::new()
            .merge(self.provider.routes(hooks.clone()))
            .route("/health", get(|| async { Json(json!({"status": "ok"})) }));
        let bind = self.config.webhook_bind;
        let listener = tokio::net::TcpListener::bind(bind).await.map_err(|e| {
            ConnectorError(format!(
                "connectors[type=sms].webhook_bind {bind}: {e}; choose a free address"
            ))
        })?;
        tracing::info!(connector = NAME, address = %bind, "SMS gateway webhook listening.");
        ctx.inbound.back_online(NAME);
        let serve = axum::serve(listener, router)
            .with_graceful_shutdown(ctx.shutdown.clone().cancelled_owned());
        let (served, linked) = tokio::join!(serve, self.provider.run(hooks, ctx.shutdown.clone()));
        served.map_err(|e| ConnectorError(format!("SMS webhook: {e}")))?;
        linked.map_err(ConnectorError)
    }

    async fn send(&self, message: &Outbound) -> Result<String, SendError> {
        let region = self.region().map_err(|reason| SendError::Transient {
            reason,
            retry_after: None,
        })?;
        let to = number::normalise(&message.conversation, region)
            .map_err(|reason| SendError::Permanent { reason })?;
        let from =
            number::normalise(&self.config.number, region).map_err(|e| SendError::Transient {
                reason: format!("connectors[type=sms].number: {e}"),
                retry_after: None,
            })?;
        let Some(sink) = self.sink.get() else {
            return Err(SendError::Transient {
                reason: "the SMS connector is not started yet".into(),
                retry_after: None,
            });
        };
        let opted_out = sink
            .opt_out(NAME, &to)
            .await
            .map_err(|e| SendError::Transient {
                reason: e.to_string(),
                retry_after: None,
            })?;
        if let Some(keyword) = opted_out {
            return Err(SendError::Permanent {
                reason: format!(
                    "{to} asked to receive no more SMS (they texted \"{keyword}\"); they can text {} to receive them again",
                    self.config
                        .opt_in_keywords
                        .first()
                        .map_or("the opt-in keyword", String::as_str)
                ),
            });
        }
        let plan = self.provider.plan(&message.body);
        if plan.segments() > self.config.max_segments {
            return Err(SendError::Permanent {
                reason: format!(
                    "it would take {} SMS, and at most {} are sent for one message (connectors[type=sms].max_segments); shorten it",
                    plan.segments(),
                    self.config.max_segments
                ),
            });
        }
        self.rate.acquire().await;
        self.refused.submitting(message.key);
        let submitted = self
            .provider
            .submit(&Mt {
                key: message.key,
                from: &from,
                to: &to,
                text: &message.body,
                plan: &plan,
            })
            .await;
        self.refused.submitted(
            message.key,
            matches!(submitted, Err(SendError::Permanent { .. })),
        );
        submitted.map(|()| remote_id(message.key))
    }

    fn resolve_identifier(&self, input: &str) -> Result<String, String> {
        number::normalise(input, self.region()?)
    }

    fn protocol(&self) -> Option<ThirdPartyProtocol> {
        Some(ThirdPartyProtocol {
            id: NAME.to_owned(),
            user_field: "number".to_owned(),
            regexp: r"\+?[0-9 ().-]{3,32}".to_owned(),
            placeholder: "+33612345678".to_owned(),
            description: "SMS".to_owned(),
        })
    }

    async fn health(&self) -> Health {
        if self.sink.get().is_none() {
            return Health::Down("not started".to_owned());
        }
        self.provider.health().unwrap_or(Health::Ok)
    }

    async fn probe(&self) -> Health {
        if let Err(e) = self.region() {
            return Health::Down(e);
        }
        self.provider.probe().await
    }
}

#[cfg(test)]
mod tests;
