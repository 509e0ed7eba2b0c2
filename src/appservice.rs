//! The appservice API the homeserver calls: transactions, user and room queries, ping and
//! third-party lookups, under `/_matrix/app/v1` and the legacy unprefixed paths.

mod auth;
mod error;
mod media;
mod query;
mod thirdparty;
pub(crate) mod transactions;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    middleware,
    routing::{get, post, put},
};
use serde_json::{Value, json};
use tower_http::{
    catch_panic::CatchPanicLayer,
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::{RequestBodyTimeoutLayer, TimeoutLayer},
    trace::{DefaultOnFailure, TraceLayer},
};

pub use self::error::AppError;
use crate::runtime::Runtime;

/// Body limit of the routes other than `/transactions`.
const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The bridge runtime (store, connectors, queues).
    pub runtime: Arc<Runtime>,
}

/// The appservice HTTP API.
pub fn router(state: AppState) -> Router {
    let config = &state.runtime.config().appservice;
    let max_body = usize::try_from(config.max_body_size.as_u64()).unwrap_or(usize::MAX);
    let timeout = config.request_timeout;

    let transactions = Router::new()
        .route(
            "/_matrix/app/v1/transactions/{txn_id}",
            put(transactions::push),
        )
        .route("/transactions/{txn_id}", put(transactions::push))
        .layer(DefaultBodyLimit::max(max_body));

    let small = Router::new()
        .route("/_matrix/app/v1/users/{user_id}", get(query::user))
        .route("/users/{user_id}", get(query::user))
        .route("/_matrix/app/v1/rooms/{alias}", get(query::room))
        .route("/rooms/{alias}", get(query::room))
        .route("/_matrix/app/v1/ping", post(ping))
        .nest("/_matrix/app/v1/thirdparty", thirdparty::routes())
        .nest("/_matrix/app/unstable/thirdparty", thirdparty::routes())
        .layer(DefaultBodyLimit::max(SMALL_BODY_LIMIT));

    let api = transactions
        .merge(small)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_hs_token,
        ));

    Router::new()
        .merge(api)
        .route("/_passerelle/media/v1/{token}/{filename}", get(media::file))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::bad_method)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(RequestBodyTimeoutLayer::new(timeout))
        .layer(CatchPanicLayer::custom(error::panic_response))
        // Handlers log their own failures; a 503 from /ready while starting is no error.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        .with_state(state)
}

/// `POST /_matrix/app/v1/ping`: the homeserver checks it can reach passerelle.
async fn ping(body: Option<Json<Value>>) -> Json<Value> {
    let txn = body
        .as_ref()
        .and_then(|b| b.get("transaction_id"))
        .and_then(Value::as_str)
        .unwrap_or("");
    tracing::debug!(transaction_id = txn, "Homeserver ping received.");
    Json(json!({}))
}

/// `GET /health`: the process is up.
async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: the database answers, the homeserver was reached and no connector is down.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db = state.runtime.store().ping().await;
    let hs = state.runtime.homeserver_reachable();
    let mut connectors = serde_json::Map::new();
    let mut all_up = true;
    for entry in state.runtime.registry().entries() {
        let health = match entry.connector.health().await {
            crate::connector::Health::Ok => "ok".to_owned(),
            crate::connector::Health::Degraded(why) => format!("degraded: {why}"),
            crate::connector::Health::Down(why) => {
                all_up = false;
                format!("down: {why}")
            }
        };
        connectors.insert(entry.connector.name().to_owned(), Value::String(health));
    }
    let status = if db && hs && all_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"database": db, "homeserver": hs, "connectors": connectors})),
    )
}

/// How long the server waits for in-flight requests on shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests;
