//! A Twilio-compatible REST provider.
//!
//! - **Out:** `POST <api_url>/2010-04-01/Accounts/<sid>/Messages.json`, a form with `To`,
//!   `From`, `Body` and a `StatusCallback` URL carrying passerelle's own id for the message;
//!   HTTP basic auth with the account SID and auth token.
//! - **In:** Twilio posts incoming SMS to `/twilio/sms` and status changes to
//!   `/twilio/status`; both must carry a valid `X-Twilio-Signature` (computed over
//!   `webhook_url` + the path and query Twilio called, see [`signature`]), else 403. Incoming
//!   SMS are answered with empty TwiML, so Twilio sends no reply of its own.

mod signature;

use std::time::Duration;

use async_trait::async_trait;
use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::post,
};
use url::Url;

use super::{
    NAME,
    inbound::{HookError, Hooks, Mo, Report},
    provider::{Mt, Provider},
};
use crate::{
    config::{Secret, TwilioConfig},
    connector::{Health, SendError},
};

/// Largest webhook body accepted.
const MAX_BODY: usize = 64 * 1024;
/// The answer to an incoming SMS: no reply.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// The Twilio provider.
pub(crate) struct Twilio {
    config: TwilioConfig,
    webhook_url: Url,
    http: reqwest::Client,
}

impl Twilio {
    /// A provider for `config`; Twilio calls back on `webhook_url`.
    pub(crate) fn new(config: TwilioConfig, webhook_url: Url) -> Self {
        Self {
            config,
            webhook_url,
            http: super::provider::gateway_client(),
        }
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_url.as_str().trim_end_matches('/'),
            url::form_urlencoded::byte_serialize(self.config.account_sid.as_bytes())
                .collect::<String>()
        )
    }

    fn status_callback(&self, key: i64) -> String {
        format!(
            "{}/twilio/status?key={key}",
            self.webhook_url.as_str().trim_end_matches('/')
        )
    }
}

/// The message of a Twilio error answer (`{"code": …, "message": …}`).
fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .map(|v| {
            format!(
                "{} (error {})",
                v["message"].as_str().unwrap_or("no message"),
                v["code"]
            )
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

#[async_trait]
impl Provider for Twilio {
    async fn submit(&self, mt: &Mt<'_>) -> Result<(), SendError> {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("To", mt.to)
            .append_pair("From", mt.from)
            .append_pair("Body", mt.text)
            .append_pair("StatusCallback", &self.status_callback(mt.key))
            .finish();
        let response = self
            .http
            .post(self.messages_url())
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose()),
            )
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .map_err(|e| SendError::Transient {
                reason: format!("the SMS provider is not reachable: {}", e.without_url()),
                retry_after: None,
            })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        if status.is_success() {
            tracing::debug!(
                connector = NAME,
                key = mt.key,
                "The SMS provider took the SMS."
            );
            return Ok(());
        }
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(SendError::Transient {
                reason: format!("the SMS provider answered {status}"),
                retry_after,
            });
        }
        if matches!(status.as_u16(), 401 | 403) {
            tracing::error!(
                connector = NAME,
                "The SMS provider refused the credentials: check connectors[type=sms].provider.account_sid and auth_token."
            );
            return Err(SendError::Transient {
                reason: "the SMS provider refused passerelle's credentials".into(),
                retry_after: None,
            });
        }
        Err(SendError::Permanent {
            reason: format!("the SMS provider refused it: {}", error_message(&body)),
        })
    }

    fn routes(&self, hooks: Hooks) -> Router {
        let state = Webhook {
            hooks,
            auth_token: self.config.auth_token.clone(),
            base: self.webhook_url.as_str().trim_end_matches('/').to_owned(),
        };
        Router::new()
            .route("/twilio/sms", post(incoming))
            .route("/twilio/status", post(status_callback))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(state)
    }

    async fn probe(&self) -> Health {
        let url = format!(
            "{}/2010-04-01/Accounts/{}.json",
            self.config.api_url.as_str().trim_end_matches('/'),
            self.config.account_sid
        );
        match self
            .http
            .get(url)
            .basic_auth(
                &self.config.account_sid,
                Some(self.config.auth_token.expose()),
            )
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Health::Ok,
            Ok(r) => Health::Down(format!(
                "the SMS provider answered {}: check connectors[type=sms].provider.account_sid and auth_token",
                r.status()
            )),
            Err(e) => Health::Down(format!(
                "the SMS provider ({}) is not reachable: {}",
                self.config.api_url,
                e.without_url()
            )),
        }
    }
}

/// What the webhook handlers share.
#[derive(Clone)]
struct Webhook {
    hooks: Hooks,
    auth_token: Secret,
    /// `webhook_url` without its final slash.
    base: String,
}

impl Webhook {
    /// The form parameters of a correctly signed request; `None` (answer 403) otherwise.
    fn verified(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Option<Vec<(String, String)>> {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let url = format!("{}{path}", self.base);
        let signature = headers
            .get("X-Twilio-Signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if signature::verify(self.auth_token.expose(), &url, &params, signature) {
            Some(params)
        } else {
            tracing::warn!(
                connector = NAME,
                "Refused a webhook call without a valid X-Twilio-Signature."
            );
            None
        }
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn failed(e: HookError) -> Response {
    match e {
        HookError::BadInput(e) => {
            tracing::warn!(connector = NAME, error = %e, "Skipped a malformed webhook call.");
            (StatusCode::BAD_REQUEST, "bad request").into_response()
        }
        HookError::Unavailable(e) => {
            tracing::warn!(connector = NAME, error = %e, "Could not store a webhook call; the provider may retry.");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later").into_response()
        }
    }
}

/// An incoming SMS.
async fn incoming(
    State(me): State<Webhook>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(params) = me.verified(&uri, &headers, &body) else {
        return (StatusCode::FORBIDDEN, "invalid signature").into_response();
    };
    let Some(from) = param(&params, "From") else {
        return failed(HookError::BadInput("no From".into()));
    };
    let mo = Mo {
        from: from.to_owned(),
        text: param(&params, "Body").unwrap_or("").to_owned(),
        id: param(&params, "MessageSid").map(str::to_owned),
        timestamp_ms: None,
    };
    match me.hooks.mo(mo).await {
        Ok(()) => ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response(),
        Err(e) => failed(e),
    }
}

/// What a Twilio `MessageStatus` means.
pub(crate) fn report_of(status: &str, error_code: Option<&str>) -> Report {
    match status {
        "delivered" | "read" => Report::Delivered,
        "undelivered" | "failed" => Report::Failed(match error_code {
            Some(code) if !code.is_empty() => {
                format!("the provider reported it {status} (error {code})")
            }
            _ => format!("the provider reported it {status}"),
        }),
        _ => Report::Accepted,
    }
}

/// A status callback about the message sent under `key`.
async fn status_callback(
    State(me): State<Webhook>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(params) = me.verified(&uri, &headers, &body) else {
        return (StatusCode::FORBIDDEN, "invalid signature").into_response();
    };
    let key = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "key")
            .and_then(|(_, v)| v.parse::<i64>().ok())
    });
    let (Some(key), Some(status), Some(to)) =
        (key, param(&params, "MessageStatus"), param(&params, "To"))
    else {
        return failed(HookError::BadInput("no key, MessageStatus or To".into()));
    };
    let report = report_of(status, param(&params, "ErrorCode"));
    match me.hooks.report(key, to, report).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failed(e),
    }
}

#[cfg(test)]
mod tests;
