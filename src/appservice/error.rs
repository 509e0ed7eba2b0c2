//! Matrix-style error answers (`{"errcode": …, "error": …}`); never leaks internals.

use std::any::Any;

use axum::{
    Json,
    body::Body,
    http::{Response, StatusCode},
    response::IntoResponse,
};
use serde_json::json;

/// An error answer to the homeserver.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    errcode: &'static str,
    message: String,
}

impl AppError {
    /// Builds an error answer.
    pub fn new(status: StatusCode, errcode: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            errcode,
            message: message.into(),
        }
    }

    /// The Matrix error code this answer carries.
    #[cfg(test)]
    pub(crate) fn errcode(&self) -> &'static str {
        self.errcode
    }

    /// 401: no credentials.
    pub fn missing_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "M_MISSING_TOKEN",
            "Missing hs_token",
        )
    }

    /// 403: wrong credentials.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "M_FORBIDDEN", "Invalid hs_token")
    }

    /// 404 for a lookup that found nothing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", message)
    }

    /// 500: something on passerelle's side failed; the homeserver will retry.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "M_UNKNOWN",
            "Internal error, retry later",
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> axum::response::Response {
        (
            self.status,
            Json(json!({"errcode": self.errcode, "error": self.message})),
        )
            .into_response()
    }
}

/// Fallback for unknown paths.
pub(super) async fn not_found() -> AppError {
    AppError::new(
        StatusCode::NOT_FOUND,
        "M_UNRECOGNIZED",
        "Unrecognized request",
    )
}

/// Fallback for known paths with another method.
pub(super) async fn bad_method() -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "M_UNRECOGNIZED",
        "Method not allowed",
    )
}

/// Answer for a handler that panicked.
pub(super) fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("A request handler panicked; answered 500.");
    AppError::internal().into_response()
}
