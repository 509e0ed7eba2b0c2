//! SMS over SMPP 3.4 against the project's SMSC simulator (`scripts/peers/smsc_sim.py`, a real
//! SMPP server on 127.0.0.1) and a real Synapse.

use std::{path::PathBuf, process::Command, time::Duration};

use serde_json::{Value, json};

use crate::harness::{
    Passerelle, User, base_config, base_config_path, bodies_from, http, repo, serial, wait_for,
};

const T: Duration = Duration::from_secs(30);
const ORG: &str = "+33100000000";

pub(crate) fn control() -> String {
    let port = std::env::var("SMSC_HTTP_PORT")
        .expect("SMSC_HTTP_PORT is not set: run the tests with scripts/test.sh");
    format!("http://127.0.0.1:{port}")
}

pub(crate) fn get(path: &str) -> Value {
    http()
        .get(format!("{}{path}", control()))
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null)
}

/// The base configuration with the SMS connector on SMPP instead of Kannel.
fn smpp_config(name: &str) -> PathBuf {
    let port = std::env::var("SMSC_SMPP_PORT").expect("SMSC_SMPP_PORT");
    let provider = format!(
        "    provider:\n      type: \"smpp\"\n      server: \"127.0.0.1:{port}\"\n      system_id: \"passerelle\"\n      password: \"smpp-it\"\n      enquire_link_interval: \"2s\"\n      response_timeout: \"5s\"\n"
    );
    config_with_provider(name, &provider)
}

/// The base configuration with `provider` (YAML at the provider's indentation) instead of
/// Kannel, written to `target/it/<name>.yaml`.
pub(crate) fn config_with_provider(name: &str, provider: &str) -> PathBuf {
    let base = std::fs::read_to_string(base_config_path()).expect("base config");
    let start = base
        .find("    provider:\n      type: \"kannel\"")
        .expect("kannel provider");
    let end = base[start..]
        .find("webhook_token:")
        .and_then(|i| base[start + i..].find('\n').map(|j| start + i + j + 1))
        .expect("end of the provider");
    let path = repo().join(format!("target/it/{name}.yaml"));
    std::fs::write(
        &path,
        format!("{}{provider}{}", &base[..start], &base[end..]),
    )
    .expect("write config");
    path
}

pub(crate) fn start(name: &str) -> Passerelle {
    let p = Passerelle::start_with_config(name, smpp_config(name), &[]);
    p.wait_ready(T);
    wait_for("passerelle bound to the SMSC", T, || {
        get("/binds")
            .as_array()?
            .iter()
            .any(|b| b["system_id"] == "passerelle" && b["mode"] == "trx")
            .then_some(())
    });
    p
}

fn ghost(number: &str) -> String {
    format!("@_sms_{number}:{}", base_config().homeserver.server_name)
}

pub(crate) fn chat_with(number: &str) -> (User, String, String) {
    let staff = User::register("smppstaff");
    let ghost = ghost(number);
    let room = staff.direct_chat(&ghost);
    (staff, room, ghost)
}

/// The reassembled messages the SMSC received for `number` (without its `+`).
fn messages_to(number: &str) -> Vec<Value> {
    get("/mt/messages")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["destination_addr"] == number.trim_start_matches('+'))
        .collect()
}

pub(crate) fn wait_mt(number: &str, text: &str) -> Value {
    wait_for(&format!("{text:?} at the SMSC"), T, || {
        messages_to(number).into_iter().find(|m| m["text"] == text)
    })
}

fn mo(from: &str, text: &str) -> Value {
    http()
        .post(format!("{}/mo", control()))
        .json(&json!({"from": from, "to": ORG, "text": text}))
        .send()
        .expect("simulator reachable")
        .json()
        .expect("json")
}

#[test]
fn smpp_both_ways_with_concatenation_unicode_and_receipts() {
    let _serial = serial();
    let _p = start("smpp-chat");
    let number = "+33612345688";
    let (staff, room, ghost) = chat_with(number);

    // GSM 03.38 with the escape table, as data_coding 0.
    let event = staff.send_text(&room, "Prix: 5€ [promo] {x}");
    let mt = wait_mt(number, "Prix: 5€ [promo] {x}");
    assert_eq!(
        (mt["data_coding"].as_u64(), mt["parts"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(mt["source_addr"], "33100000000");
    // The simulator's DELIVRD receipt becomes a read receipt from the ghost.
    wait_for("the ghost's read receipt", T, || {
        staff.ephemeral(&room).into_iter().find(|e| {
            e["type"] == "m.receipt"
                && e["content"][event.as_str()]["m.read"][ghost.as_str()].is_object()
        })
    });

    // UCS-2 with an emoji.
    let mt = wait_mt_after(&staff, &room, number, "Ça marche 😀");
    assert_eq!(mt["data_coding"].as_u64(), Some(8));

    // 300 characters: two parts with a concatenation UDH, reassembled by the SMSC.
    let long: String = (0..300)
        .map(|i| char::from(b'a' + u8::try_from(i % 26).expect("small")))
        .collect();
    let mt = wait_mt_after(&staff, &room, number, &long);
    assert_eq!(mt["parts"].as_u64(), Some(2));

    // Incoming: a 202-character text in two UDH parts, and an emoji.
    let text = format!("é€{}", "x".repeat(200));
    let sent = mo(number, &text);
    assert_eq!(
        (sent["status"].as_u64(), sent["parts"].as_u64()),
        (Some(0), Some(2))
    );
    let sent = mo(number, "Merci 👍");
    assert_eq!(sent["data_coding"].as_u64(), Some(8));
    wait_for("both incoming SMS in the room", T, || {
        let bodies = bodies_from(&staff.messages(&room), &ghost);
        (bodies.contains(&text) && bodies.contains(&"Merci 👍".to_owned())).then_some(())
    });
}

fn wait_mt_after(staff: &User, room: &str, number: &str, text: &str) -> Value {
    staff.send_text(room, text);
    wait_mt(number, text)
}

#[test]
fn an_undelivered_receipt_gives_a_notice() {
    let _serial = serial();
    let _p = start("smpp-undeliv");
    // The simulator reports this prefix undeliverable.
    let (staff, room, ghost) = chat_with("+447911123457");
    let event = staff.send_text(&room, "Hello");
    let body = wait_for("the failure notice", T, || {
        staff
            .notices_about(&room, &ghost, &event)
            .into_iter()
            .next()
    });
    assert!(body.contains("UNDELIV"), "{body}");
}

/// Stops the simulator (a real outage of the SMSC), then starts it again.
fn restart_smsc(while_down: impl FnOnce()) {
    let status = Command::new(repo().join("scripts/peers/stop-peers.sh"))
        .arg("smsc")
        .status()
        .expect("stop-peers");
    assert!(status.success());
    while_down();
    let status = Command::new(repo().join("scripts/peers/start-smsc.sh"))
        .status()
        .expect("start-smsc");
    assert!(status.success(), "the simulator restarts");
}

#[test]
fn the_link_is_dropped_and_restored_with_nothing_lost_or_repeated() {
    let _serial = serial();
    let _p = start("smpp-outage");
    let number = "+33612345699";
    let (staff, room, ghost) = chat_with(number);
    staff.send_text(&room, "before the outage");
    wait_mt(number, "before the outage");

    restart_smsc(|| {
        staff.send_text(&room, "during the outage 1");
        staff.send_text(&room, "during the outage 2");
        std::thread::sleep(Duration::from_secs(2));
    });

    // Rebound, passerelle delivers what waited, in order, once each.
    wait_for("passerelle bound again", T, || {
        get("/binds")
            .as_array()?
            .iter()
            .any(|b| b["system_id"] == "passerelle")
            .then_some(())
    });
    wait_mt(number, "during the outage 2");
    let texts: Vec<String> = messages_to(number)
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(texts, ["during the outage 1", "during the outage 2"]);
    // And incoming SMS flow again.
    assert_eq!(mo(number, "back again")["status"].as_u64(), Some(0));
    wait_for("the incoming SMS after the outage", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"back again".to_owned())
            .then_some(())
    });
}

#[test]
fn throttling_by_the_smsc_is_waited_out_and_the_message_sent_once() {
    let _serial = serial();
    let _p = start("smpp-throttle");
    let number = "+33612345611";
    let (staff, room, _ghost) = chat_with(number);
    // The SMSC answers the next two submit_sm with ESME_RTHROTTLED, later one with
    // ESME_RMSGQFUL: both are waited out.
    for (count, status, text) in [
        (2, 0x58, "after the throttling"),
        (1, 0x14, "after a full queue"),
    ] {
        let resp = http()
            .post(format!("{}/throttle", control()))
            .json(&json!({"count": count, "status": status}))
            .send()
            .expect("simulator reachable");
        assert!(resp.status().is_success());
        staff.send_text(&room, text);
        wait_mt(number, text);
    }
    let texts: Vec<String> = messages_to(number)
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(texts, ["after the throttling", "after a full queue"]);
    // No failure notice: throttling is not a failure.
    assert!(
        staff
            .messages(&room)
            .iter()
            .all(|m| m["content"]["msgtype"] != "m.notice"),
        "{:?}",
        staff.messages(&room)
    );
}

#[test]
fn an_sms_from_an_unknown_number_opens_a_room() {
    let _serial = serial();
    let staff = User::register("smppinbox");
    let invite = format!("[\"{}\"]", staff.user_id);
    let p = Passerelle::start_with_config(
        "smpp-inbound",
        smpp_config("smpp-inbound"),
        &[(
            &crate::harness::connector_key("sms", "INBOUND__INVITE"),
            &invite,
        )],
    );
    p.wait_ready(T);
    wait_for("passerelle bound to the SMSC", T, || {
        get("/binds")
            .as_array()?
            .iter()
            .any(|b| b["system_id"] == "passerelle")
            .then_some(())
    });
    let number = "+33612340001";
    assert_eq!(
        mo(number, "Bonjour, qui est là ?")["status"].as_u64(),
        Some(0)
    );
    let room = wait_for("an invitation to the new conversation", T, || {
        staff.invites().into_iter().next()
    });
    staff.join(&room);
    wait_for("the SMS in the new room", T, || {
        bodies_from(&staff.messages(&room), &ghost(number))
            .contains(&"Bonjour, qui est là ?".to_owned())
            .then_some(())
    });
}

#[test]
fn doctor_binds_to_the_smsc_and_names_a_wrong_server() {
    let _serial = serial();
    let registration = base_config_path().with_file_name("registration.yaml");
    let dir = repo().join("target/it/smpp-doctor");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let doctor = |config: PathBuf| {
        let out = Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["doctor", "-c"])
            .arg(&config)
            .arg("-r")
            .arg(&registration)
            .env("PASSERELLE_DATABASE__PATH", dir.join("doctor.db"))
            .output()
            .expect("doctor runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = doctor(smpp_config("smpp-doctor"));
    assert!(ok, "{text}");
    assert!(text.contains("✓ connector sms"), "{text}");
    let wrong = config_with_provider(
        "smpp-doctor-wrong",
        "    provider:\n      type: \"smpp\"\n      server: \"127.0.0.1:1\"\n      system_id: \"passerelle\"\n      password: \"smpp-it\"\n      response_timeout: \"2s\"\n",
    );
    let (ok, text) = doctor(wrong);
    assert!(!ok, "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
}
