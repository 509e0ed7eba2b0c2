//! The homeserver client: ruma request and response types over reqwest, authenticated with the
//! `as_token`, acting as the bot or (with `?user_id=`) as a ghost.

mod retry;

use std::{borrow::Cow, collections::BTreeSet, fmt, time::Duration};

use ruma::{
    EventId, MxcUri, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, TransactionId, UserId,
    api::{
        AppserviceUserIdentity, IncomingResponseExt, MatrixVersion, OutgoingRequest,
        OutgoingRequestAppserviceExt, OutgoingRequestExt, SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
        client::{
            account::{register, whoami},
            alias::get_alias,
            appservice::request_ping,
            authenticated_media::get_content,
            discovery::get_supported_versions,
            media::create_content,
            membership::{invite_user, join_room_by_id, joined_members, kick_user, leave_room},
            message::send_message_event,
            profile::{ProfileFieldValue, set_profile_field},
            receipt::create_receipt,
            room::create_room,
            state::get_state_event_for_key,
            typing::create_typing_event,
        },
        path_builder::{PathBuilder, SinglePath, VersionHistory},
    },
    events::{AnyInitialStateEvent, AnyMessageLikeEventContent, MessageLikeEventType},
    serde::Raw,
};
use serde::Deserialize;
use serde_json::value::RawValue;

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
        let (status, headers, body) = self.execute(http_request, limit).await?;
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

    /// The spec versions the homeserver supports (`GET /_matrix/client/versions`).
    pub async fn versions(&self) -> Result<Vec<String>, MatrixError> {
        Ok(self
            .call(get_supported_versions::Request::new(), None)
            .await?
            .versions)
    }

    /// `whoami` as the bot or a ghost; returns the user id the homeserver sees.
    pub async fn whoami(&self, user: Option<&UserId>) -> Result<OwnedUserId, MatrixError> {
        Ok(self.call(whoami::v3::Request::new(), user).await?.user_id)
    }

    /// Asks the homeserver to ping passerelle back; returns the round-trip time.
    pub async fn ping(&self, transaction_id: &str) -> Result<Duration, MatrixError> {
        let mut request = request_ping::v1::Request::new(self.appservice_id.clone());
        request.transaction_id = Some(<&TransactionId>::from(transaction_id).to_owned());
        Ok(self.call(request, None).await?.duration)
    }

    /// Registers a ghost; an already registered one counts as success.
    pub async fn register(&self, localpart: &str) -> Result<(), MatrixError> {
        let mut request = register::v3::Request::new();
        request.username = Some(localpart.to_owned());
        request.inhibit_login = true;
        request.login_type = Some(register::LoginType::ApplicationService);
        match self.call(request, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("M_USER_IN_USE") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sets a user's display name (acting as that user).
    pub async fn set_display_name(&self, user: &UserId, name: &str) -> Result<(), MatrixError> {
        let request = set_profile_field::v3::Request::new(
            user.to_owned(),
            ProfileFieldValue::DisplayName(name.to_owned()),
        );
        self.call(request, Some(user)).await.map(|_| ())
    }

    /// Sets a user's avatar (acting as that user).
    pub async fn set_avatar_url(&self, user: &UserId, mxc: &MxcUri) -> Result<(), MatrixError> {
        let request = set_profile_field::v3::Request::new(
            user.to_owned(),
            ProfileFieldValue::AvatarUrl(mxc.to_owned()),
        );
        self.call(request, Some(user)).await.map(|_| ())
    }

    /// Uploads media as `user` (or the bot); returns its `mxc://` URI.
    pub async fn upload(
        &self,
        user: Option<&UserId>,
        data: Vec<u8>,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<String, MatrixError> {
        if data.len() > self.max_media {
            return Err(too_large("the upload", self.max_media));
        }
        let mut request = create_content::v3::Request::new(data);
        request.content_type = Some(content_type.to_owned());
        request.filename = filename.map(str::to_owned);
        Ok(self.call(request, user).await?.content_uri.to_string())
    }

    /// Downloads media through the authenticated endpoint, refusing anything larger than
    /// `homeserver.max_media_size`; returns the bytes and their content type.
    pub async fn download(&self, mxc: &MxcUri) -> Result<(Vec<u8>, Option<String>), MatrixError> {
        let (server, media_id) = mxc
            .parts()
            .map_err(|e| permanent_error(format!("{mxc}: {e}")))?;
        let request = get_content::v1::Request::new(media_id.to_owned(), server.to_owned());
        let response = self.call_capped(request, None, self.max_media).await?;
        Ok((response.file, response.content_type))
    }

    /// Shows or hides `user` (a ghost) typing in a room.
    pub async fn typing(
        &self,
        room: &RoomId,
        user: &UserId,
        typing: bool,
    ) -> Result<(), MatrixError> {
        let state = if typing {
            create_typing_event::v3::Typing::Yes(create_typing_event::v3::TypingInfo::new(
                Duration::from_secs(30),
            ))
        } else {
            create_typing_event::v3::Typing::No
        };
        let request =
            create_typing_event::v3::Request::new(user.to_owned(), room.to_owned(), state);
        self.call(request, Some(user)).await.map(|_| ())
    }

    /// Marks `event` as read by `user` (a ghost), e.g. when the remote side reports delivery.
    pub async fn read_receipt(
        &self,
        room: &RoomId,
        user: &UserId,
        event: &EventId,
    ) -> Result<(), MatrixError> {
        let request = create_receipt::v3::Request::new(
            room.to_owned(),
            create_receipt::v3::ReceiptType::Read,
            event.to_owned(),
        );
        self.call(request, Some(user)).await.map(|_| ())
    }

    /// Reads the content of a state event, as `user` (or the bot).
    pub async fn state(
        &self,
        room: &RoomId,
        user: Option<&UserId>,
        event_type: &str,
        state_key: &str,
    ) -> Result<serde_json::Value, MatrixError> {
        let request = get_state_event_for_key::v3::Request::new(
            room.to_owned(),
            event_type.into(),
            state_key.to_owned(),
        );
        let response = self.call(request, user).await?;
        serde_json::from_str(response.event_or_content.get())
            .map_err(|e| permanent_error(format!("unreadable {event_type} state: {e}")))
    }

    /// Creates a room, as `creator` (a ghost) or the bot.
    pub async fn create_room(
        &self,
        creator: Option<&UserId>,
        room: NewRoom,
    ) -> Result<OwnedRoomId, MatrixError> {
        let mut request = create_room::v3::Request::new();
        request.name = room.name;
        request.invite = room.invite;
        request.is_direct = room.is_direct;
        request.preset = Some(create_room::v3::RoomPreset::TrustedPrivateChat);
        request.initial_state = room
            .initial_state
            .into_iter()
            .map(|v| {
                let raw = RawValue::from_string(v.to_string())
                    .map_err(|e| MatrixError::bug(format!("initial state: {e}")))?;
                Ok(Raw::<AnyInitialStateEvent>::from_json(raw))
            })
            .collect::<Result<_, MatrixError>>()?;
        Ok(self.call(request, creator).await?.room_id)
    }

    /// Invites `target` to a room, acting as `inviter` (or the bot).
    pub async fn invite(
        &self,
        room: &RoomId,
        inviter: Option<&UserId>,
        target: &UserId,
    ) -> Result<(), MatrixError> {
        let request = invite_user::v3::Request::new(
            room.to_owned(),
            invite_user::v3::InvitationRecipient::UserId(invite_user::v3::InviteUserId::new(
                target.to_owned(),
            )),
        );
        match self.call(request, inviter).await {
            Ok(_) => Ok(()),
            // Already in the room or already invited: nothing to do.
            Err(e) if e.status == Some(403) && e.message.contains("already in the room") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Joins a room as `user` (or the bot).
    pub async fn join(&self, room: &RoomId, user: Option<&UserId>) -> Result<(), MatrixError> {
        self.call(join_room_by_id::v3::Request::new(room.to_owned()), user)
            .await
            .map(|_| ())
    }

    /// Leaves a room as `user` (or the bot).
    pub async fn leave(&self, room: &RoomId, user: Option<&UserId>) -> Result<(), MatrixError> {
        self.call(leave_room::v3::Request::new(room.to_owned()), user)
            .await
            .map(|_| ())
    }

    /// Kicks `target` out of a room, acting as `by` (or the bot).
    pub async fn kick(
        &self,
        room: &RoomId,
        by: Option<&UserId>,
        target: &UserId,
        reason: Option<String>,
    ) -> Result<(), MatrixError> {
        let mut request = kick_user::v3::Request::new(room.to_owned(), target.to_owned());
        request.reason = reason;
        self.call(request, by).await.map(|_| ())
    }

    /// Sends a message-like event with a deterministic transaction id and an optional
    /// massaged timestamp; returns the event id.
    pub async fn send(
        &self,
        room: &RoomId,
        sender: Option<&UserId>,
        event_type: &str,
        content: &serde_json::Value,
        txn_id: &str,
        timestamp_ms: Option<i64>,
    ) -> Result<String, MatrixError> {
        let raw = RawValue::from_string(content.to_string())
            .map_err(|e| MatrixError::bug(format!("event content: {e}")))?;
        let mut request = send_message_event::v3::Request::new_raw(
            room.to_owned(),
            <&TransactionId>::from(txn_id).to_owned(),
            MessageLikeEventType::from(event_type),
            Raw::<AnyMessageLikeEventContent>::from_json(raw),
        );
        request.timestamp = timestamp_ms
            .and_then(|t| u64::try_from(t).ok())
            .and_then(ruma::UInt::new)
            .map(ruma::MilliSecondsSinceUnixEpoch);
        Ok(self.call(request, sender).await?.event_id.to_string())
    }

    /// Resolves a room alias to a room id.
    pub async fn resolve_alias(&self, alias: &RoomAliasId) -> Result<OwnedRoomId, MatrixError> {
        Ok(self
            .call(get_alias::v3::Request::new(alias.to_owned()), None)
            .await?
            .room_id)
    }

    /// The joined members of a room (the bot must be in it).
    pub async fn joined_members(&self, room: &RoomId) -> Result<Vec<OwnedUserId>, MatrixError> {
        let response = self
            .call(joined_members::v3::Request::new(room.to_owned()), None)
            .await?;
        Ok(response.joined.into_keys().collect())
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
