//! SMPP state that must survive passerelle being killed: the parts of an incoming long SMS
//! already acknowledged, and the SMSC's message ids that delivery receipts name.

use serde_json::{Value, json};

use crate::{
    harness::{Passerelle, bodies_from, http, serial, wait_for},
    sms_smpp::{chat_with, control, get, start, wait_mt},
};

const T: std::time::Duration = std::time::Duration::from_secs(30);

fn post(path: &str, body: &Value) -> Value {
    http()
        .post(format!("{}{path}", control()))
        .json(body)
        .send()
        .expect("simulator reachable")
        .json()
        .expect("json")
}

fn bound() -> bool {
    get("/binds")
        .as_array()
        .is_some_and(|b| b.iter().any(|b| b["system_id"] == "passerelle"))
}

/// SIGKILLs passerelle, waits until the SMSC has seen the link go, runs `while_down`, then
/// starts passerelle again on the same database and waits until it is bound.
fn crash_and_restart(p: &mut Passerelle, while_down: impl FnOnce()) {
    p.kill9();
    wait_for("the SMSC to see passerelle gone", T, || {
        (!bound()).then_some(())
    });
    while_down();
    p.restart();
    p.wait_ready(T);
    wait_for("passerelle bound again", T, || bound().then_some(()));
}

/// Receipts held back by the simulator until dropped (also when a test fails).
struct HeldReceipts;

impl HeldReceipts {
    fn hold() -> Self {
        assert_eq!(post("/receipts", &json!({"hold": true}))["ok"], true);
        Self
    }

    /// Sends the receipts held back so far.
    fn release(&self) -> u64 {
        post("/receipts", &json!({"hold": false}))["released"]
            .as_u64()
            .unwrap_or_default()
    }
}

impl Drop for HeldReceipts {
    fn drop(&mut self) {
        let _ = http()
            .post(format!("{}/receipts", control()))
            .json(&json!({"hold": false}))
            .send();
    }
}

#[test]
fn a_long_incoming_sms_cut_by_a_crash_arrives_once_and_whole() {
    let _serial = serial();
    let mut p = start("smpp-mo-crash");
    let number = "+33612345631";
    let (staff, room, ghost) = chat_with(number);
    // 400 GSM characters: three parts of at most 153.
    let text: String = (0..400u32)
        .map(|i| char::from_digit(i % 36, 36).unwrap_or('x'))
        .collect();
    let mo = |only: &[u8]| {
        post(
            "/mo",
            &json!({"from": number, "to": "+33100000000", "text": text, "ref": 77, "only": only}),
        )
    };
    let first = mo(&[1]);
    assert_eq!(
        (first["status"].as_u64(), first["parts"].as_u64()),
        (Some(0), Some(3)),
        "the first part is acknowledged"
    );

    crash_and_restart(&mut p, || {});

    let rest = mo(&[2, 3]);
    assert_eq!(rest["status"].as_u64(), Some(0), "{rest}");
    wait_for("the whole SMS in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&text)
            .then_some(())
    });
    // A later SMS from the same contact comes after anything the first one could still give.
    let after = post(
        "/mo",
        &json!({"from": number, "to": "+33100000000", "text": "et ensuite"}),
    );
    assert_eq!(after["status"].as_u64(), Some(0));
    wait_for("the next SMS in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"et ensuite".to_owned())
            .then_some(())
    });
    let bodies = bodies_from(&staff.messages(&room), &ghost);
    assert_eq!(
        bodies,
        [text.clone(), "et ensuite".to_owned()],
        "the long SMS once, whole, and nothing else"
    );
}

#[test]
fn receipts_after_a_restart_find_messages_sent_before_it() {
    let _serial = serial();
    let mut p = start("smpp-dlr-restart");
    let held = HeldReceipts::hold();
    let (staff, room, ghost) = chat_with("+33612345632");
    let delivered = staff.send_text(&room, "sent before the crash");
    wait_mt("+33612345632", "sent before the crash");
    // The simulator reports this prefix undeliverable.
    let (staff2, room2, ghost2) = chat_with("+447911123459");
    let failed = staff2.send_text(&room2, "this one fails");
    wait_mt("+447911123459", "this one fails");

    crash_and_restart(&mut p, || {});
    assert_eq!(held.release(), 2, "both receipts were held back");

    wait_for("the ghost's read receipt", T, || {
        staff.ephemeral(&room).into_iter().find(|e| {
            e["type"] == "m.receipt"
                && e["content"][delivered.as_str()]["m.read"][ghost.as_str()].is_object()
        })
    });
    let body = wait_for("the failure notice", T, || {
        staff2
            .notices_about(&room2, &ghost2, &failed)
            .into_iter()
            .next()
    });
    assert!(body.contains("UNDELIV"), "{body}");
}

/// The submit_sm PDUs the SMSC recorded for `number`.
fn submits_to(number: &str) -> Vec<Value> {
    get("/mt")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["destination_addr"] == number.trim_start_matches('+'))
        .collect()
}

#[test]
fn a_long_outgoing_sms_cut_by_a_crash_is_finished_without_resending_parts() {
    let _serial = serial();
    let mut p = start("smpp-mt-crash");
    let number = "+33612345633";
    let (staff, room, _ghost) = chat_with(number);
    // The SMSC takes the first part, then hangs on the second.
    assert_eq!(post("/stall", &json!({"after": 1, "count": 1}))["ok"], true);
    let text: String = (0..400u32)
        .map(|i| char::from_digit(i % 36, 36).unwrap_or('x'))
        .rev()
        .collect();
    staff.send_text(&room, &text);
    wait_for("the second part to hang at the SMSC", T, || {
        (get("/stalled")["stalled"].as_u64() == Some(1)).then_some(())
    });

    crash_and_restart(&mut p, || {});

    wait_mt(number, &text);
    staff.send_text(&room, "la suite");
    wait_mt(number, "la suite");
    let parts: Vec<String> = submits_to(number)
        .iter()
        .map(|m| m["udh"].to_string())
        .collect();
    assert_eq!(
        parts.len(),
        4,
        "three parts, the first taken before the crash sent once, then the next SMS: {parts:?}"
    );
}
