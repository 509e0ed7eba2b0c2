//! Homeserver faults Synapse will not produce on demand (a 502 mid-send, a 429 with
//! `retry_after_ms`, a 403 on a ghost's send), played by a small fake homeserver on loopback.
//! This is the one place the tests do not use the real Synapse, for that reason only.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::harness::{Passerelle, serial, wait_for};

/// One request the fake homeserver received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    body: Value,
    at: Instant,
}

#[derive(Default)]
struct Fake {
    seen: Vec<Seen>,
    /// Answers for `PUT …/send/…`, in order; once empty, sends succeed.
    send_script: VecDeque<(u16, Value)>,
    /// Answer for joins.
    join_status: u16,
}

type Shared = Arc<Mutex<Fake>>;

async fn handle(State(fake): State<Shared>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let mut fake = fake.lock().unwrap_or_else(|e| e.into_inner());
    fake.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        query,
        body,
        at: Instant::now(),
    });
    let (status, answer) = if path.ends_with("/account/whoami") {
        (
            200,
            json!({"user_id": crate::harness::base_config().bot_user_id()}),
        )
    } else if path.contains("/appservice/") && path.ends_with("/ping") {
        (200, json!({"duration_ms": 1}))
    } else if path.ends_with("/register") {
        (200, json!({"user_id": "@ghost:fake"}))
    } else if path.ends_with("/createRoom") {
        (200, json!({"room_id": "!portal:fake"}))
    } else if path.contains("/send/") {
        fake.send_script
            .pop_front()
            .unwrap_or((200, json!({"event_id": format!("$e{}", fake.seen.len())})))
    } else if path.ends_with("/join") || path.contains("/join/") {
        let status = fake.join_status;
        (
            status,
            if status == 200 {
                json!({"room_id": "!portal:fake"})
            } else {
                json!({"errcode": "M_FORBIDDEN", "error": "not invited"})
            },
        )
    } else if method == "PUT" {
        (200, json!({}))
    } else {
        (
            404,
            json!({"errcode": "M_UNRECOGNIZED", "error": "fake homeserver"}),
        )
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(answer),
    )
        .into_response()
}

/// Starts the fake homeserver on 127.0.0.1 in its own thread; returns its URL and state.
fn start_fake(fake: Fake) -> (String, Shared) {
    let shared: Shared = Arc::new(Mutex::new(fake));
    let state = shared.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr"))
                .expect("send addr");
            let app = Router::new().fallback(handle).with_state(state);
            let _ = axum::serve(listener, app).await;
        });
    });
    let addr = rx.recv().expect("fake homeserver address");
    (format!("http://{addr}"), shared)
}

fn sends(fake: &Shared) -> Vec<Seen> {
    let fake = fake.lock().unwrap_or_else(|e| e.into_inner());
    fake.seen
        .iter()
        .filter(|s| s.method == "PUT" && s.path.contains("/send/"))
        .cloned()
        .collect()
}

#[test]
fn a_502_then_a_429_are_retried_with_the_same_transaction_id() {
    let _serial = serial();
    let script = VecDeque::from([
        (502, json!({"errcode": "M_UNKNOWN", "error": "bad gateway"})),
        (
            429,
            json!({"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 1500}),
        ),
    ]);
    let (url, fake) = start_fake(Fake {
        send_script: script,
        join_status: 200,
        ..Fake::default()
    });
    let p = Passerelle::start(
        "fault-retry",
        &[
            ("PASSERELLE_HOMESERVER__URL", &url),
            (
                "PASSERELLE_CONNECTORS__0__INBOUND__INVITE",
                "[\"@staff:localhost\"]",
            ),
        ],
    );
    p.wait_ready(Duration::from_secs(30));
    p.inject("zoe", "hello through a flaky homeserver", "zoe-1");
    let attempts = wait_for(
        "the third, successful attempt",
        Duration::from_secs(30),
        || {
            let s = sends(&fake);
            (s.len() >= 3).then_some(s)
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let attempts_after = sends(&fake);
    assert_eq!(
        attempts_after.len(),
        3,
        "sent again after success: {attempts_after:?}"
    );
    let txn = |s: &Seen| s.path.rsplit('/').next().unwrap_or("").to_owned();
    assert_eq!(txn(&attempts[0]), txn(&attempts[1]));
    assert_eq!(txn(&attempts[1]), txn(&attempts[2]));
    assert!(txn(&attempts[0]).starts_with("passerelle-"));
    assert!(
        attempts[0].query.contains("user_id="),
        "not sent as the ghost: {}",
        attempts[0].query
    );
    assert_eq!(attempts[2].body["body"], "hello through a flaky homeserver");
    let waited = attempts[2].at.duration_since(attempts[1].at);
    assert!(
        waited >= Duration::from_millis(1500),
        "retry_after_ms not honoured: {waited:?}"
    );
}

#[test]
fn a_permanent_refusal_is_not_retried_and_the_room_is_told() {
    let _serial = serial();
    let script = VecDeque::from([(
        403,
        json!({"errcode": "M_FORBIDDEN", "error": "User not in room"}),
    )]);
    let (url, fake) = start_fake(Fake {
        send_script: script,
        join_status: 403,
        ..Fake::default()
    });
    let p = Passerelle::start(
        "fault-permanent",
        &[
            ("PASSERELLE_HOMESERVER__URL", &url),
            (
                "PASSERELLE_CONNECTORS__0__INBOUND__INVITE",
                "[\"@staff:localhost\"]",
            ),
        ],
    );
    p.wait_ready(Duration::from_secs(30));
    p.inject("yann", "this one is refused", "yann-1");
    let attempts = wait_for("the bot's notice", Duration::from_secs(30), || {
        let s = sends(&fake);
        s.iter().any(|a| !a.query.contains("user_id=")).then_some(s)
    });
    std::thread::sleep(Duration::from_secs(2));
    let ghost_sends = sends(&fake)
        .iter()
        .filter(|a| a.query.contains("user_id="))
        .count();
    assert_eq!(ghost_sends, 1, "a permanent failure was retried");
    let notice = attempts
        .iter()
        .find(|a| !a.query.contains("user_id="))
        .expect("notice");
    assert_eq!(notice.body["msgtype"], "m.notice");
    let text = notice.body["body"].as_str().unwrap_or_default();
    assert!(
        text.contains("could not be posted") && text.contains("this one is refused"),
        "{text}"
    );
}
