//! Router tests: the appservice API answered without a network.

use std::{path::Path, sync::Arc};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{AppState, router};
use crate::{config::Config, runtime::Runtime, store::Store};

const HS_TOKEN: &str = "hs_secret_token";

struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
    store: Store,
}

async fn fixture_with(extra: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "homeserver:\n  url: http://127.0.0.1:9\n  server_name: example.org\n\
         appservice:\n  as_token: as_secret_token\n  hs_token: {HS_TOKEN}\n  max_body_size: 64 KiB\n{extra}\
         connectors:\n  - type: test\n    control_bind: 127.0.0.1:0\n"
    );
    let config = Config::parse(Path::new("test.yaml"), &text, &[]).expect("config");
    let store = Store::open(&dir.path().join("p.db"), 2)
        .await
        .expect("store");
    let runtime = Runtime::new(Arc::new(config), store.clone()).expect("runtime");
    Fixture {
        _dir: dir,
        app: router(AppState { runtime }),
        store,
    }
}

async fn fixture() -> Fixture {
    fixture_with("").await
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    send(app, req.body(body).expect("request")).await
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

fn message(room: &str, id: &str) -> Value {
    json!({"type": "m.room.message", "room_id": room, "event_id": id, "sender": "@u:example.org",
           "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "hi"}})
}

#[tokio::test]
async fn authentication_follows_the_spec() {
    let f = fixture().await;
    let uri = "/_matrix/app/v1/transactions/t1";
    let body = json!({"events": []});
    let (s, v) = call(&f.app, "PUT", uri, None, Some(body.clone())).await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("M_MISSING_TOKEN"))
    );
    let (s, v) = call(&f.app, "PUT", uri, Some("wrong"), Some(body.clone())).await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN"))
    );
    let (s, _) = call(&f.app, "PUT", uri, Some(HS_TOKEN), Some(body.clone())).await;
    assert_eq!(s, StatusCode::OK);
    // Legacy query token alone: accepted.
    let (s, _) = call(
        &f.app,
        "PUT",
        &format!("/_matrix/app/v1/transactions/t2?access_token={HS_TOKEN}"),
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Header and query disagree: forbidden, even though the header is right.
    let (s, v) = call(
        &f.app,
        "PUT",
        "/_matrix/app/v1/transactions/t3?access_token=other",
        Some(HS_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::FORBIDDEN, Some("M_FORBIDDEN"))
    );
    // Not a bearer token.
    let req = Request::put(uri)
        .header("authorization", format!("Basic {HS_TOKEN}"))
        .body(Body::from("{}"))
        .expect("req");
    assert_eq!(send(&f.app, req).await.0, StatusCode::FORBIDDEN);
    // Nothing was stored by the rejected requests.
    assert_eq!(f.store.inbox_counts().await.expect("counts"), (0, 0, 0));
}

#[tokio::test]
async fn query_token_can_be_refused() {
    let f = fixture_with("  accept_query_token: false\n").await;
    let (s, v) = call(
        &f.app,
        "PUT",
        &format!("/_matrix/app/v1/transactions/t?access_token={HS_TOKEN}"),
        None,
        Some(json!({"events": []})),
    )
    .await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("M_MISSING_TOKEN"))
    );
}

#[tokio::test]
async fn a_transaction_is_stored_once_and_bad_events_are_skipped() {
    let f = fixture().await;
    let body = json!({"events": [message("!a:x", "$1"), {"type": "m.room.message"}, "junk", message("!a:x", "$2")]});
    let (s, v) = call(
        &f.app,
        "PUT",
        "/_matrix/app/v1/transactions/42",
        Some(HS_TOKEN),
        Some(body.clone()),
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, json!({})));
    assert_eq!(f.store.inbox_counts().await.expect("counts"), (2, 0, 0));
    // Replay, also with a different body: 200 and nothing new.
    let (s, _) = call(
        &f.app,
        "PUT",
        "/_matrix/app/v1/transactions/42",
        Some(HS_TOKEN),
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let other = json!({"events": [message("!a:x", "$3")]});
    let (s, _) = call(
        &f.app,
        "PUT",
        "/_matrix/app/v1/transactions/42",
        Some(HS_TOKEN),
        Some(other),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(f.store.inbox_counts().await.expect("counts"), (2, 0, 0));
    // The legacy unprefixed path.
    let (s, _) = call(
        &f.app,
        "PUT",
        "/transactions/43",
        Some(HS_TOKEN),
        Some(json!({"events": [message("!b:x", "$4")]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(f.store.inbox_counts().await.expect("counts"), (3, 0, 0));
}

#[tokio::test]
async fn concurrent_duplicates_store_once() {
    let f = fixture().await;
    let body = json!({"events": [message("!a:x", "$1"), message("!a:x", "$2")]});
    let calls = (0..8).map(|_| {
        call(
            &f.app,
            "PUT",
            "/_matrix/app/v1/transactions/same",
            Some(HS_TOKEN),
            Some(body.clone()),
        )
    });
    for (status, _) in futures_util::future::join_all(calls).await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(f.store.inbox_counts().await.expect("counts"), (2, 0, 0));
}

#[tokio::test]
async fn unusable_bodies_get_matrix_errors() {
    let f = fixture().await;
    let req = Request::put("/_matrix/app/v1/transactions/x")
        .header("authorization", format!("Bearer {HS_TOKEN}"))
        .body(Body::from("{not json"))
        .expect("req");
    let (s, v) = send(&f.app, req).await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_NOT_JSON"))
    );
    let (s, v) = call(
        &f.app,
        "PUT",
        "/_matrix/app/v1/transactions/y",
        Some(HS_TOKEN),
        Some(json!({"events": "nope"})),
    )
    .await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("M_BAD_JSON"))
    );
    let huge = json!({"events": [{"type": "m.room.message", "room_id": "!a:x", "event_id": "$1", "content": {"body": "x".repeat(100_000)}}]});
    let (s, v) = call(
        &f.app,
        "PUT",
        "/_matrix/app/v1/transactions/z",
        Some(HS_TOKEN),
        Some(huge),
    )
    .await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("M_TOO_LARGE"))
    );
    assert_eq!(f.store.inbox_counts().await.expect("counts"), (0, 0, 0));
}

#[tokio::test]
async fn unknown_routes_and_methods_are_unrecognized() {
    let f = fixture().await;
    let (s, v) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/nothing",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_UNRECOGNIZED"))
    );
    let (s, v) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/transactions/1",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("M_UNRECOGNIZED"))
    );
    let (s, v) = call(&f.app, "GET", "/_matrix/app/v1/ping", Some(HS_TOKEN), None).await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("M_UNRECOGNIZED"))
    );
}

#[tokio::test]
async fn ping_and_health_answer() {
    let f = fixture().await;
    let (s, v) = call(
        &f.app,
        "POST",
        "/_matrix/app/v1/ping",
        Some(HS_TOKEN),
        Some(json!({"transaction_id": "p1"})),
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, json!({})));
    let (s, _) = call(
        &f.app,
        "POST",
        "/_matrix/app/v1/ping",
        Some("bad"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = call(&f.app, "GET", "/health", None, None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    // Not ready: the homeserver was never reached.
    let (s, v) = call(&f.app, "GET", "/ready", None, None).await;
    assert_eq!(
        (s, v["database"].as_bool(), v["homeserver"].as_bool()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(true), Some(false))
    );
}

#[tokio::test]
async fn third_party_lookups_use_the_connectors() {
    let f = fixture().await;
    let (s, v) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/thirdparty/protocol/test",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["user_fields"], json!(["contact"]));
    assert_eq!(v["instances"][0]["network_id"], json!("test"));
    let (s, v) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/thirdparty/user/test?contact=Alice",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!([{"userid": "@_test_alice:example.org", "protocol": "test", "fields": {"contact": "alice"}}])
    );
    let (s, v) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/thirdparty/user?userid=@_test_bob:example.org",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v[0]["fields"]["contact"], json!("bob"));
    let (s, v) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/thirdparty/user/test?contact=no%20spaces",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND"))
    );
    let (s, _) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/thirdparty/protocol/carrier-pigeon",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/thirdparty/location/test",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &f.app,
        "GET",
        "/_matrix/app/unstable/thirdparty/protocol/test",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn user_and_room_queries_outside_the_namespace_are_not_found() {
    let f = fixture().await;
    let (s, v) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/users/@someone:example.org",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(
        (s, v["errcode"].as_str()),
        (StatusCode::NOT_FOUND, Some("M_NOT_FOUND"))
    );
    let (s, _) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/users/@_test_bad=zz:example.org",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &f.app,
        "GET",
        "/_matrix/app/v1/rooms/%23nothing:example.org",
        Some(HS_TOKEN),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&f.app, "GET", "/users/@someone:example.org", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_stalled_body_times_out_with_408() {
    let f = fixture_with("  request_timeout: 300ms\n").await;
    // A body that sends one chunk and then nothing, as a slow-loris client would.
    let stream = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"{\"events\": ["))
    })
    .chain(futures_util::stream::pending());
    let req = Request::put("/_matrix/app/v1/transactions/slow")
        .header("authorization", format!("Bearer {HS_TOKEN}"))
        .body(Body::from_stream(stream))
        .expect("request");
    let started = std::time::Instant::now();
    let (status, _) = send(&f.app, req).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(f.store.inbox_counts().await.expect("counts"), (0, 0, 0));
}
