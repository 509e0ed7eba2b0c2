//! Third-party lookups: clients find the ghost for a phone number, address or JID.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    routing::get,
};
use serde_json::{Value, json};

use super::{AppError, AppState};

/// Routes under `/thirdparty`.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/protocol/{protocol}", get(protocol))
        .route("/user/{protocol}", get(user_by_fields))
        .route("/user", get(user_by_id))
        .route("/location/{protocol}", get(location_by_fields))
        .route("/location", get(location_by_alias))
}

async fn protocol(
    State(state): State<AppState>,
    Path(protocol): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (entry, p) = state
        .runtime
        .registry()
        .by_protocol(&protocol)
        .ok_or_else(|| AppError::not_found("No such protocol"))?;
    Ok(Json(json!({
        "user_fields": [p.user_field],
        "location_fields": [],
        "icon": "",
        "field_types": {
            p.user_field.clone(): {"regexp": p.regexp, "placeholder": p.placeholder},
        },
        "instances": [{
            "desc": p.description,
            "fields": {},
            "network_id": entry.connector.name(),
        }],
    })))
}

async fn user_by_fields(
    State(state): State<AppState>,
    Path(protocol): Path<String>,
    Query(fields): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let runtime = &state.runtime;
    let (entry, p) = runtime
        .registry()
        .by_protocol(&protocol)
        .ok_or_else(|| AppError::not_found("No such protocol"))?;
    let input = fields
        .get(&p.user_field)
        .ok_or_else(|| AppError::not_found("No user matches"))?;
    let remote = entry
        .connector
        .resolve_identifier(input)
        .map_err(AppError::not_found)?;
    let user_id = entry
        .template
        .user_id(&remote, runtime.server_name())
        .map_err(|e| AppError::not_found(e.to_string()))?;
    Ok(Json(
        json!([{"userid": user_id, "protocol": p.id, "fields": {p.user_field: remote}}]),
    ))
}

async fn user_by_id(
    State(state): State<AppState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, AppError> {
    let runtime = &state.runtime;
    let user_id = query
        .get("userid")
        .ok_or_else(|| AppError::not_found("No user matches"))?;
    let (entry, remote) = runtime
        .registry()
        .by_ghost(user_id, runtime.server_name())
        .ok_or_else(|| AppError::not_found("Not a passerelle user"))?;
    let p = entry
        .connector
        .protocol()
        .ok_or_else(|| AppError::not_found("No such protocol"))?;
    Ok(Json(
        json!([{"userid": user_id, "protocol": p.id, "fields": {p.user_field: remote}}]),
    ))
}

async fn location_by_fields(Path(_protocol): Path<String>) -> AppError {
    AppError::not_found("No portal rooms are published")
}

async fn location_by_alias() -> AppError {
    AppError::not_found("No portal rooms are published")
}
