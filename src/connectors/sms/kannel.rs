//! Kannel (bearerbox + smsbox) as the SMS gateway.
//!
//! - **Out:** `GET <sendsms_url>?username&password&from&to&text&charset=UTF-8&coding=0|2`
//!   with `dlr-mask=31` and a `dlr-url` that carries passerelle's own id for the message
//!   (Kannel's `%I` differs between the reports of one message, so it cannot be the key).
//!   Kannel passes 7-bit text through ISO-8859-1, so a text with any character beyond it (`€`,
//!   Greek letters, emoji) goes out as UCS-2, and its segments are counted that way.
//! - **In:** smsbox's `post-url` posts an incoming SMS to `/kannel/mo` (text in the body,
//!   `from`, `id` and `ts` in the query, as `%p`, `%I`, `%T`); delivery reports come to
//!   `/kannel/dlr` (`type` = `%d`, `answer` = `%A`). Both must carry `token` =
//!   `webhook_token`, compared in constant time; without it the answer is 403.

use async_trait::async_trait;
use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, State},
    http::{HeaderMap, StatusCode},
    routing::get,
};
use serde::Deserialize;
use url::Url;

use super::{
    inbound::{HookError, Hooks, Mo, Report},
    provider::{Mt, Provider},
    segments::{self, Coding, Plan},
};
use crate::{
    config::{KannelConfig, Secret},
    connector::{Health, SendError},
};

/// Largest body Kannel may post (one reassembled SMS is a few KiB at most).
const MAX_BODY: usize = 64 * 1024;

/// The Kannel provider.
pub(crate) struct Kannel {
    config: KannelConfig,
    /// Base URL Kannel reaches passerelle's webhook on.
    webhook_url: Url,
    http: reqwest::Client,
}

impl Kannel {
    /// A provider for `config`; Kannel calls back on `webhook_url`.
    pub(crate) fn new(config: KannelConfig, webhook_url: Url) -> Self {
        Self {
            config,
            webhook_url,
            http: super::provider::gateway_client(),
        }
    }

    /// The sendsms request for `mt` (the password and token are in it: never log it).
    fn sendsms_url(&self, mt: &Mt<'_>) -> Url {
        let mut dlr = self.webhook_url.clone();
        dlr.set_path("/kannel/dlr");
        // Kannel substitutes %d (the report type) and %A (the SMSC's answer).
        let dlr = format!(
            "{dlr}?key={}&to={}&type=%d&answer=%A&token={}",
            mt.key,
            urlencode(mt.to),
            urlencode(self.config.webhook_token.expose())
        );
        let coding = match mt.plan.coding {
            Coding::Gsm7 => "0",
            Coding::Ucs2 => "2",
        };
        let mut url = self.config.sendsms_url.clone();
        url.query_pairs_mut()
            .append_pair("username", &self.config.username)
            .append_pair("password", self.config.password.expose())
            .append_pair("from", mt.from)
            .append_pair("to", mt.to)
            .append_pair("text", mt.text)
            .append_pair("charset", "UTF-8")
            .append_pair("coding", coding)
            .append_pair("dlr-mask", "31")
            .append_pair("dlr-url", &dlr);
        url
    }
}

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[async_trait]
impl Provider for Kannel {
    fn plan(&self, text: &str) -> Plan {
        if text.chars().all(|c| u32::from(c) <= 0xff) {
            segments::plan(text)
        } else {
            segments::plan_ucs2(text)
        }
    }

    async fn submit(&self, mt: &Mt<'_>) -> Result<(), SendError> {
        let response = self
            .http
            .get(self.sendsms_url(mt))
            .send()
            .await
            .map_err(|e| SendError::Transient {
                reason: format!("Kannel is not reachable: {}", e.without_url()),
                retry_after: None,
            })?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let body = body.trim();
        if status.is_success() {
            tracing::debug!(
                connector = super::NAME,
                key = mt.key,
                answer = body,
                "Kannel took the SMS."
            );
            return Ok(());
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(SendError::Transient {
                reason: format!("Kannel answered {status}: {body}"),
                retry_after: None,
            });
        }
        // A configuration problem: keep the message and retry until the operator fixes it.
        if body.contains("Authorization failed") {
            tracing::error!(
                connector = super::NAME,
                "Kannel refused the sendsms credentials: check connectors[type=sms].provider.username and password against Kannel's sendsms-user."
            );
            return Err(SendError::Transient {
                reason: "the SMS gateway refused passerelle's credentials".into(),
                retry_after: None,
            });
        }
        Err(SendError::Permanent {
            reason: format!("the SMS gateway refused it ({status}: {body})"),
        })
    }

    fn routes(&self, hooks: Hooks) -> Router {
        let state = Webhook {
            hooks,
            token: self.config.webhook_token.clone(),
        };
        Router::new()
            .route("/kannel/mo", get(mo).post(mo))
            .route("/kannel/dlr", get(dlr).post(dlr))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(state)
    }

    async fn probe(&self) -> Health {
        // sendsms without parameters: any HTTP answer shows smsbox is up.
        match self.http.get(self.config.sendsms_url.clone()).send().await {
            Ok(_) => Health::Ok,
            Err(e) => Health::Down(format!(
                "Kannel's sendsms ({}) is not reachable: {}; check connectors[type=sms].provider.sendsms_url and that smsbox runs",
                self.config.sendsms_url,
                e.without_url()
            )),
        }
    }
}

/// What the webhook handlers share.
#[derive(Clone)]
struct Webhook {
    hooks: Hooks,
    token: Secret,
}

impl Webhook {
    fn authorised(&self, token: Option<&str>) -> bool {
        token.is_some_and(|t| self.token.matches(t))
    }
}

/// The query of smsbox's `post-url`.
#[derive(Deserialize)]
struct MoQuery {
    from: Option<String>,
    id: Option<String>,
    ts: Option<String>,
    token: Option<String>,
}

/// `post-url`: an incoming SMS, its text as the (UTF-8) body.
async fn mo(
    State(me): State<Webhook>,
    Query(q): Query<MoQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    if !me.authorised(q.token.as_deref()) {
        tracing::warn!(
            connector = super::NAME,
            "Refused a Kannel call without the webhook token."
        );
        return (StatusCode::FORBIDDEN, "forbidden");
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let Some(from) = q.from.or_else(|| header("X-Kannel-From")) else {
        tracing::warn!(
            connector = super::NAME,
            "Skipped an incoming SMS without a sender."
        );
        return (StatusCode::BAD_REQUEST, "missing from");
    };
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        tracing::warn!(
            connector = super::NAME,
            "Skipped an incoming SMS that is not UTF-8 (set mo-recode = true in Kannel)."
        );
        return (StatusCode::BAD_REQUEST, "body must be UTF-8");
    };
    let timestamp_ms =
        q.ts.and_then(|t| t.trim().parse::<i64>().ok())
            .filter(|t| *t > 0)
            .map(|t| t.saturating_mul(1000));
    let result = me
        .hooks
        .mo(Mo {
            from,
            text,
            id: q.id.filter(|i| !i.is_empty() && !i.starts_with('%')),
            timestamp_ms,
        })
        .await;
    answer(result)
}

/// The query of a `dlr-url` call.
#[derive(Deserialize)]
struct DlrQuery {
    key: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    to: Option<String>,
    answer: Option<String>,
    token: Option<String>,
}

/// What a Kannel report type (`%d`) means.
pub(crate) fn report_of(kind: u32, answer: &str) -> Option<Report> {
    let reason = || {
        let answer = answer.trim();
        if answer.is_empty() {
            "the operator gave no reason".to_owned()
        } else {
            format!("the operator said: {answer}")
        }
    };
    match kind {
        1 => Some(Report::Delivered),
        2 => Some(Report::Failed(reason())),
        16 => Some(Report::Failed(format!(
            "rejected by the SMSC ({})",
            reason()
        ))),
        4 | 8 => Some(Report::Accepted),
        _ => None,
    }
}

/// `dlr-url`: a delivery report.
async fn dlr(State(me): State<Webhook>, Query(q): Query<DlrQuery>) -> (StatusCode, &'static str) {
    if !me.authorised(q.token.as_deref()) {
        tracing::warn!(
            connector = super::NAME,
            "Refused a Kannel call without the webhook token."
        );
        return (StatusCode::FORBIDDEN, "forbidden");
    }
    let key = q.key.as_deref().and_then(|k| k.parse::<i64>().ok());
    let kind = q.kind.as_deref().and_then(|k| k.parse::<u32>().ok());
    let (Some(key), Some(kind), Some(to)) = (key, kind, q.to) else {
        tracing::warn!(
            connector = super::NAME,
            "Skipped a malformed delivery report."
        );
        return (StatusCode::BAD_REQUEST, "missing key, type or to");
    };
    let Some(report) = report_of(kind, q.answer.as_deref().unwrap_or("")) else {
        tracing::debug!(
            connector = super::NAME,
            kind,
            "Ignored a delivery report of an unknown type."
        );
        return (StatusCode::OK, "");
    };
    answer(me.hooks.report(key, &to, report).await)
}

fn answer(result: Result<(), HookError>) -> (StatusCode, &'static str) {
    match result {
        Ok(()) => (StatusCode::OK, ""),
        Err(HookError::BadInput(e)) => {
            tracing::warn!(connector = super::NAME, error = %e, "Skipped a malformed Kannel call.");
            (StatusCode::BAD_REQUEST, "bad request")
        }
        Err(HookError::Unavailable(e)) => {
            tracing::warn!(connector = super::NAME, error = %e, "Could not store a Kannel call; Kannel may retry.");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later")
        }
    }
}

#[cfg(test)]
mod tests;
