//! `GET /users/{userId}` and `GET /rooms/{roomAlias}`: the homeserver asks whether an id in
//! passerelle's namespaces exists.

use axum::{
    Json,
    extract::{Path, State},
};
use serde_json::{Value, json};

use super::{AppError, AppState};

/// A ghost exists if its localpart decodes to a valid remote id of an enabled connector; it is
/// registered before the answer, as the specification requires.
pub(super) async fn user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let runtime = &state.runtime;
    let Some((entry, remote_id)) = runtime.registry().by_ghost(&user_id, runtime.server_name())
    else {
        return Err(AppError::not_found("Not a passerelle user"));
    };
    match entry.connector.resolve_identifier(&remote_id) {
        Ok(canonical) if canonical == remote_id => {}
        _ => return Err(AppError::not_found("Not a valid contact for this network")),
    }
    match runtime.ensure_ghost(entry, &remote_id, None).await {
        Ok(_) => Ok(Json(json!({}))),
        Err(e) => {
            tracing::warn!(error = %e, "Cannot register a queried ghost.");
            tracing::debug!(user_id, "Ghost that could not be registered.");
            Err(AppError::internal())
        }
    }
}

/// An alias in a connector's namespace that names a group conversation (an XMPP group chat)
/// gets its room created, linked, before the answer, as the specification requires.
pub(super) async fn room(
    State(state): State<AppState>,
    Path(alias): Path<String>,
) -> Result<Json<Value>, AppError> {
    match state.runtime.provision_alias(&alias).await {
        Ok(true) => Ok(Json(json!({}))),
        Ok(false) => Err(AppError::not_found("No such room")),
        Err(e) => {
            tracing::warn!(alias, error = %e, "Cannot create the room for an alias.");
            Err(AppError::internal())
        }
    }
}
