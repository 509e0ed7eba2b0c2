//! Authentication of the homeserver with the `hs_token`.

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{AppError, AppState};

/// Checks the `Authorization: Bearer` header and the legacy `?access_token=` parameter.
///
/// No credentials → 401 `M_MISSING_TOKEN`; wrong ones, or header and query disagreeing →
/// 403 `M_FORBIDDEN`. The query parameter alone counts only with `appservice.accept_query_token`.
pub(super) async fn require_hs_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let config = &state.runtime.config().appservice;
    let header_token = match request.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
            Some(token) => Some(token.trim().to_owned()),
            None => return AppError::forbidden().into_response(),
        },
    };
    let query_token = request.uri().query().and_then(query_access_token);
    let accepted = match (header_token.as_deref(), query_token.as_deref()) {
        (None, None) => return AppError::missing_token().into_response(),
        (Some(h), Some(q)) => config.hs_token.matches(h) && config.hs_token.matches(q),
        (Some(h), None) => config.hs_token.matches(h),
        (None, Some(q)) => {
            if !config.accept_query_token {
                return AppError::missing_token().into_response();
            }
            config.hs_token.matches(q)
        }
    };
    if !accepted {
        tracing::warn!(
            path = request.uri().path(),
            "Rejected a request with a wrong hs_token."
        );
        return AppError::forbidden().into_response();
    }
    next.run(request).await
}

fn query_access_token(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.into_owned())
}
