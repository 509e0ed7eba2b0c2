//! Nothing acknowledged is lost, nothing is repeated: kill -9 and replays.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Passerelle, User, ghost, serial, wait_for};

const T: Duration = Duration::from_secs(30);

/// A portal room between a fresh staff user and `contact`, with the ghost joined.
fn portal(contact: &str) -> (User, String) {
    let staff = User::register("durable");
    let g = ghost(contact);
    let room = staff.direct_chat(&g);
    (staff, room)
}

fn message_event(room: &str, sender: &str, event_id: &str, body: &str) -> Value {
    json!({"type": "m.room.message", "room_id": room, "sender": sender, "event_id": event_id,
           "origin_server_ts": 1_700_000_000_000_i64, "content": {"msgtype": "m.text", "body": body}})
}

#[test]
fn a_replayed_transaction_after_kill_9_is_processed_once() {
    let _serial = serial();
    let mut p = Passerelle::start("replay", &[]);
    p.wait_ready(T);
    let (staff, room) = portal("frank");
    let txn =
        json!({"events": [message_event(&room, &staff.user_id, "$replay-1:test", "exactly once")]});

    // Delivered, acknowledged, then passerelle dies at once.
    assert_eq!(p.put_transaction("replay-txn-1", &txn).status(), 200);
    p.kill9();
    // The homeserver did not see the answer and sends the same transaction again.
    p.restart();
    assert_eq!(p.put_transaction("replay-txn-1", &txn).status(), 200);
    wait_for("the message to be delivered", T, || {
        p.sent()
            .iter()
            .any(|s| s["body"] == "exactly once")
            .then_some(())
    });
    // Again after another crash and restart: still once.
    p.restart();
    assert_eq!(p.put_transaction("replay-txn-1", &txn).status(), 200);
    std::thread::sleep(Duration::from_secs(2));
    let copies = p
        .sent()
        .iter()
        .filter(|s| s["event_id"] == "$replay-1:test")
        .count();
    assert_eq!(copies, 1, "sent {copies} times");
}

#[test]
fn messages_acknowledged_before_a_crash_are_delivered_after_restart_in_order() {
    let _serial = serial();
    let mut p = Passerelle::start("crash-order", &[]);
    p.wait_ready(T);
    let (staff, room) = portal("grace");
    let events: Vec<Value> = (0..50)
        .map(|i| {
            message_event(
                &room,
                &staff.user_id,
                &format!("$order-{i}:test"),
                &format!("msg {i}"),
            )
        })
        .collect();
    // Five transactions of ten events, each acknowledged, then kill -9 straight away.
    for (n, chunk) in events.chunks(10).enumerate() {
        assert_eq!(
            p.put_transaction(&format!("order-{n}"), &json!({"events": chunk}))
                .status(),
            200
        );
    }
    p.kill9();
    p.restart();
    let sent = wait_for("all 50 messages", T, || {
        let s = p.sent();
        (s.len() >= 50).then_some(s)
    });
    let bodies: Vec<String> = sent
        .iter()
        .filter_map(|s| s["body"].as_str().map(str::to_owned))
        .collect();
    let expected: Vec<String> = (0..50).map(|i| format!("msg {i}")).collect();
    assert_eq!(bodies, expected, "lost, duplicated or reordered");
}

#[test]
fn a_malformed_event_is_skipped_and_the_rest_processed() {
    let _serial = serial();
    let p = Passerelle::start("malformed", &[]);
    p.wait_ready(T);
    let (staff, room) = portal("heidi");
    let txn = json!({"events": [
        {"type": "m.room.message", "room_id": room, "event_id": "$bad-1:test", "sender": staff.user_id, "content": "not an object"},
        {"garbage": true},
        message_event(&room, &staff.user_id, "$good-1:test", "still bridged"),
    ]});
    let resp = p.put_transaction("malformed-1", &txn);
    assert_eq!(resp.status(), 200);
    wait_for("the good event", T, || {
        p.sent()
            .iter()
            .any(|s| s["body"] == "still bridged")
            .then_some(())
    });
    assert_eq!(p.sent().len(), 1);
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let _serial = serial();
    let mut p = Passerelle::start("sigterm", &[]);
    p.wait_ready(T);
    assert!(
        p.terminate(),
        "passerelle did not exit cleanly on SIGTERM; log:\n{}",
        p.log()
    );
    assert!(p.log().contains("Stopped."));
    // The database was closed: SQLite folded its write-ahead log back in.
    assert!(
        !p.dir.join("passerelle.db-wal").exists(),
        "the database was not closed"
    );
}
