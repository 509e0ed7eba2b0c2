//! `PUT /_matrix/app/v1/transactions/{txnId}`: persist, then acknowledge.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection},
    http::StatusCode,
};
use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};

use super::{AppError, AppState};
use crate::store::NewInboxEvent;

/// The transaction body. Unknown keys (to-device, device lists, …) are ignored.
#[derive(Deserialize)]
struct TransactionBody<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    #[serde(default, borrow)]
    ephemeral: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow, rename = "de.sorunome.msc2409.ephemeral")]
    unstable_ephemeral: Option<Vec<&'a RawValue>>,
}

/// The fields every stored event must have.
#[derive(Deserialize)]
struct EventHead {
    room_id: Option<String>,
    event_id: Option<String>,
    #[serde(rename = "type")]
    kind: String,
}

/// Stores the transaction's events and its id in one database transaction, then answers
/// `200 {}`. A replayed id answers `200 {}` without storing anything; a malformed event is
/// logged and skipped.
pub(super) async fn push(
    State(state): State<AppState>,
    Path(txn_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, AppError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "M_TOO_LARGE",
                "Transaction body too large",
            )
        } else {
            AppError::new(
                StatusCode::BAD_REQUEST,
                "M_BAD_JSON",
                format!("Cannot read the body: {e}"),
            )
        }
    })?;
    let events = parse(&txn_id, &body)?;
    // A span entered across an await would leak into whatever the thread runs next.
    let span = tracing::info_span!("transaction", txn_id = %txn_id, events = events.len());
    let runtime = &state.runtime;
    let stored = tracing::Instrument::instrument(
        runtime.store().accept_transaction(&txn_id, &events),
        span.clone(),
    )
    .await;
    let _in_span = span.enter();
    match stored {
        Ok(true) => {
            tracing::debug!("Transaction stored.");
            runtime.notify_inbox();
        }
        Ok(false) => tracing::info!("Transaction already stored; acknowledged again."),
        Err(e) => {
            tracing::error!(error = %e, "Cannot store the transaction; the homeserver will retry.");
            return Err(AppError::internal());
        }
    }
    Ok(Json(json!({})))
}

/// Splits the body into storable events; errors only when the body itself is unusable.
pub(crate) fn parse(txn_id: &str, body: &[u8]) -> Result<Vec<NewInboxEvent>, AppError> {
    // serde would read a struct from an array too; a transaction is an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<Value>(body) {
            Ok(_) => AppError::new(
                StatusCode::BAD_REQUEST,
                "M_BAD_JSON",
                "Not a transaction: the body must be a JSON object",
            ),
            Err(e) => AppError::new(
                StatusCode::BAD_REQUEST,
                "M_NOT_JSON",
                format!("Body is not JSON: {e}"),
            ),
        });
    }
    // One pass: the events stay borrowed slices of the body until they are stored.
    let parsed: TransactionBody = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            AppError::new(
                StatusCode::BAD_REQUEST,
                "M_BAD_JSON",
                format!("Not a transaction: {e}"),
            )
        } else {
            AppError::new(
                StatusCode::BAD_REQUEST,
                "M_NOT_JSON",
                format!("Body is not JSON: {e}"),
            )
        }
    })?;
    let mut out = Vec::with_capacity(parsed.events.len());
    for raw in &parsed.events {
        match serde_json::from_str::<EventHead>(raw.get()) {
            Ok(EventHead {
                room_id: Some(room_id),
                event_id: Some(event_id),
                ..
            }) if !room_id.is_empty() && !event_id.is_empty() => {
                out.push(NewInboxEvent {
                    room_id,
                    event_id: Some(event_id),
                    kind: "timeline",
                    payload: raw.get().to_owned(),
                });
            }
            Ok(head) => {
                tracing::warn!(txn_id, event_type = %head.kind, "Skipped an event without room_id or event_id.")
            }
            Err(e) => tracing::warn!(txn_id, error = %e, "Skipped a malformed event."),
        }
    }
    let ephemeral = parsed
        .ephemeral
        .into_iter()
        .chain(parsed.unstable_ephemeral)
        .flatten();
    let mut seen_ephemeral = std::collections::BTreeSet::new();
    for raw in ephemeral {
        // Synapse may send the same list under both keys.
        if !seen_ephemeral.insert(raw.get().to_owned()) {
            continue;
        }
        match serde_json::from_str::<EventHead>(raw.get()) {
            Ok(EventHead {
                room_id: Some(room_id),
                kind,
                ..
            }) if matches!(kind.as_str(), "m.typing" | "m.receipt") => {
                out.push(NewInboxEvent {
                    room_id,
                    event_id: None,
                    kind: "ephemeral",
                    payload: raw.get().to_owned(),
                });
            }
            Ok(head) => {
                tracing::debug!(txn_id, event_type = %head.kind, "Ignored an ephemeral event.")
            }
            Err(e) => tracing::warn!(txn_id, error = %e, "Skipped a malformed ephemeral event."),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn malformed_events_are_skipped_and_the_rest_kept() {
        let body = br#"{"events": [
            {"type": "m.room.message", "room_id": "!a:x", "event_id": "$1", "sender": "@u:x", "content": {}},
            {"type": "m.room.message", "event_id": "$2"},
            42,
            {"room_id": "!a:x"},
            {"type": "m.room.message", "room_id": "!b:x", "event_id": "$3", "content": {"body": "\u0000"}}
        ]}"#;
        let events = parse("t", body).expect("usable body");
        let ids: Vec<_> = events
            .iter()
            .filter_map(|e| e.event_id.as_deref())
            .collect();
        assert_eq!(ids, ["$1", "$3"]);
    }

    #[test]
    fn both_ephemeral_keys_are_read_once() {
        let typing = r#"{"type": "m.typing", "room_id": "!a:x", "content": {"user_ids": []}}"#;
        let receipt = r#"{"type": "m.receipt", "room_id": "!a:x", "content": {}}"#;
        let presence = r#"{"type": "m.presence", "sender": "@u:x", "content": {}}"#;
        let body = format!(
            r#"{{"events": [], "ephemeral": [{typing}, {presence}], "de.sorunome.msc2409.ephemeral": [{typing}, {receipt}], "de.sorunome.msc2409.to_device": []}}"#
        );
        let events = parse("t", body.as_bytes()).expect("usable body");
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["ephemeral", "ephemeral"]);
    }

    #[test]
    fn unusable_bodies_are_errors() {
        assert!(parse("t", b"not json").is_err());
        assert!(parse("t", b"{\"events\": 3}").is_err());
        assert!(parse("t", b"[]").is_err());
        let array = br#"[[{"type": "m.room.message", "room_id": "!a:x", "event_id": "$1"}]]"#;
        assert_eq!(
            parse("t", array).err().map(|e| e.errcode()),
            Some("M_BAD_JSON")
        );
    }

    #[test]
    fn deep_nesting_and_invalid_utf8_are_not_json() {
        let code = |body: &[u8]| parse("t", body).err().map(|e| e.errcode());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(code(deep.as_bytes()), Some("M_NOT_JSON"));
        // Inside the events list, a deeply nested event is one malformed event: skipped, so
        // the homeserver's queue does not wedge on a transaction it would resend forever.
        let deep_event = format!(
            r#"{{"events": [{}{}, {{"type": "m.room.message", "room_id": "!a:x", "event_id": "$1"}}]}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        let kept = parse("t", deep_event.as_bytes()).expect("usable body");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].event_id.as_deref(), Some("$1"));
        assert_eq!(code(b"{\"events\": [\"\xff\xfe\"]}"), Some("M_NOT_JSON"));
        assert_eq!(code(b"{\"events\": [{\"a\": 1"), Some("M_NOT_JSON"));
        assert_eq!(code(br#"{"events": {"a": 1}}"#), Some("M_BAD_JSON"));
    }
}
