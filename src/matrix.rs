//! The homeserver client: ruma request and response types over reqwest, authenticated with the
//! `as_token`, acting as the bot or (with `?user_id=`) as a ghost.

mod account;
mod media;
mod retry;
mod rooms;

use std::{borrow::Cow, collections::BTreeSet, fmt, time::Duration};

use ruma::{
    OwnedUserId, UserId,
    api::{
        AppserviceUserIdentity, IncomingResponseExt, MatrixVersion, OutgoingRequest,
        OutgoingRequestAppserviceExt, OutgoingRequestExt, SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
        path_builder::{PathBuilder, SinglePath, VersionHistory},
    },
};
use serde::Deserialize;

pub use self::retry::{RetryKind, backoff};
use crate::config::Config;

/// Largest JSON answer read from the homeserver.
const MAX_JSON_RESPONSE: usize = 4 * 1024 * 1024;

/// A failed homeserver request, classified.
#[derive(Debug, Clone, thiserror::Error)]
pub struct MatrixError {
    /// Retry or not.
    pub kind: RetryKind,
    /// HTTP status, if the server answered.
    pub status: Option<u16>,
    /// Matrix `errcode`, if any.
    pub errcode: Option<String>,
    /// Human-readable explanation.
    pub message: String,
}

impl fmt::Display for MatrixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.status, &self.errcode) {
            (Some(s), Some(c)) => write!(f, "[{s} / {c}] {}", self.message),
            (Some(s), None) => write!(f, "[{s}] {}", self.message),
            _ => write!(f, "{}", self.message),
        }
    }
}

impl MatrixError {
    fn network(message: impl Into<String>) -> Self {
        Self {
            kind: RetryKind::Network,
            status: None,
            errcode: None,
            message: message.into(),
        }
    }

    fn bug(message: impl Into<String>) -> Self {
        permanent_error(message)
    }

    /// True if the homeserver answered with this errcode.
    pub fn is(&self, errcode: &str) -> bool {
        self.errcode.as_deref() == Some(errcode)
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    errcode: Option<String>,
    error: Option<String>,
    retry_after_ms: Option<u64>,
}

/// Supplies the path-builder input ruma needs for each kind of endpoint.
pub trait PathInput: PathBuilder {
    /// The input for the versions passerelle speaks.
    fn input(versions: &SupportedVersions) -> Self::Input<'_>;
}

impl PathInput for VersionHistory {
    fn input(versions: &SupportedVersions) -> Self::Input<'_> {
        Cow::Borrowed(versions)
    }
}

impl PathInput for SinglePath {
    fn input(_: &SupportedVersions) -> Self::Input<'_> {}
}

/// Options for a new portal room.
#[derive(Debug, Clone, Default)]
pub struct NewRoom {
    /// Room name.
    pub name: Option<String>,
    /// Users to invite.
    pub invite: Vec<OwnedUserId>,
    /// Mark as a direct chat.
    pub is_direct: bool,
    /// Initial state events (the `m.bridge` info, …), as JSON objects with `type`, `state_key`, `content`.
    pub initial_state: Vec<serde_json::Value>,
    /// Local part of an alias to give the room (a public room anyone on the server may join);
    /// without one the room is a private chat.
    pub alias: Option<String>,
}

/// Client for the homeserver's client-server API, as the appservice.
#[derive(Clone)]
pub struct MatrixClient {
    http: reqwest::Client,
    base_url: String,
    as_token: crate::config::Secret,
    appservice_id: String,
    server_name: String,
    versions: SupportedVersions,
    max_media: usize,
}

impl fmt::Debug for MatrixClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatrixClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl MatrixClient {
    /// Builds a client from the configuration.
    pub fn new(config: &Config) -> Result<Self, MatrixError> {
        // reqwest is built without a default TLS provider; ring is the one rustls uses here.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.homeserver.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("passerelle/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| MatrixError::bug(format!("cannot build the HTTP client: {e}")))?;
        let versions = SupportedVersions {
            versions: BTreeSet::from([
                MatrixVersion::V1_1,
                MatrixVersion::V1_2,
                MatrixVersion::V1_3,
                MatrixVersion::V1_4,
                MatrixVersion::V1_5,
                MatrixVersion::V1_6,
                MatrixVersion::V1_7,
                MatrixVersion::V1_8,
                MatrixVersion::V1_9,
                MatrixVersion::V1_10,
                MatrixVersion::V1_11,
            ]),
            features: BTreeSet::new(),
        };
        Ok(Self {
            http,
            base_url: config
                .homeserver
                .url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
            as_token: config.appservice.as_token.clone(),
            appservice_id: config.appservice.id.clone(),
            server_name: config.homeserver.server_name.clone(),
            versions,
            max_media: usize::try_from(config.homeserver.max_media_size.as_u64())
                .unwrap_or(usize::MAX),
        })
    }

    /// The homeserver's server name.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// Sends one ruma request, as the bot (`user = None`) or as a ghost.
    pub async fn call<R>(
        &self,
        request: R,
        user: Option<&UserId>,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest,
        R::PathBuilder: PathInput,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        self.call_capped(request, user, MAX_JSON_RESPONSE).await
    }

    /// Like [`MatrixClient::call`], reading at most `limit` bytes of the answer.
    async fn call_capped<R>(
        &self,
        request: R,
        user: Option<&UserId>,
        limit: usize,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest,
        R::PathBuilder: PathInput,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        let token = SendAccessToken::Always(self.as_token.expose());
        let path_input = <R::PathBuilder as PathInput>::input(&self.versions);
        let built: Result<http::Request<Vec<u8>>, _> = match user {
            Some(user) => request.try_into_http_request_with_identity(
                &self.base_url,
                token,
                AppserviceUserIdentity::new(user),
                path_input,
            ),
            None => request.try_into_http_request(&self.base_url, token, path_input),
        };
        let http_request =
            built.map_err(|e| MatrixError::bug(format!("cannot build the request: {e}")))?;
        let started = std::time::Instant::now();
        let executed = self.execute(http_request, limit).await;
        crate::metrics::METRICS
            .homeserver_request(crate::metrics::endpoint_of::<R>(), started.elapsed());
        let (status, headers, body) = executed?;
        let mut builder = http::Response::builder().status(status);
        if let Some(h) = builder.headers_mut() {
            *h = headers;
        }
        let response = builder
            .body(body.as_slice())
            .map_err(|e| MatrixError::bug(format!("cannot rebuild the response: {e}")))?;
        R::IncomingResponse::try_from_http_response(response)
            .map_err(|e| MatrixError::bug(format!("unexpected answer from the homeserver: {e}")))
    }

    async fn execute(
        &self,
        request: http::Request<Vec<u8>>,
        limit: usize,
    ) -> Result<(http::StatusCode, http::HeaderMap, Vec<u8>), MatrixError> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| MatrixError::bug(format!("cannot convert the request: {e}")))?;
        let path = request.url().path().to_owned();
        let mut response = self.http.execute(request).await.map_err(|e| {
            MatrixError::network(format!(
                "cannot reach the homeserver ({path}): {}",
                error_chain(&e)
            ))
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large(&path, limit));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            MatrixError::network(format!("reading the answer to {path}: {}", error_chain(&e)))
        })? {
            if body.len() + chunk.len() > MAX_JSON_RESPONSE {
                return Err(MatrixError::network(format!(
                    "the answer to {path} is larger than {MAX_JSON_RESPONSE} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status.as_u16() >= 400 {
            let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
            let header_delay = headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let retry_after = parsed
                .as_ref()
                .and_then(|b| b.retry_after_ms)
                .map(Duration::from_millis)
                .or(header_delay);
            let errcode = parsed.as_ref().and_then(|b| b.errcode.clone());
            let message = parsed
                .and_then(|b| b.error)
                .unwrap_or_else(|| format!("{path} answered {status}"));
            return Err(MatrixError {
                kind: RetryKind::from_status(status.as_u16(), errcode.as_deref(), retry_after),
                status: Some(status.as_u16()),
                errcode,
                message,
            });
        }
        Ok((status, headers, body))
    }
}

fn permanent_error(message: impl Into<String>) -> MatrixError {
    MatrixError {
        kind: RetryKind::Permanent,
        status: None,
        errcode: None,
        message: message.into(),
    }
}

fn too_large(path: &str, limit: usize) -> MatrixError {
    MatrixError {
        kind: RetryKind::Permanent,
        status: None,
        errcode: Some("M_TOO_LARGE".to_owned()),
        message: format!("the answer to {path} is larger than {limit} bytes"),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
