//! passerelle started before the homeserver still ends up connected.

use std::{process::Command, time::Duration};

use crate::harness::{Passerelle, PeerBack, http, repo, serial, wait_for};

#[test]
fn started_before_the_homeserver_it_connects_when_it_comes_up() {
    let _serial = serial();
    let stop = Command::new("bash")
        .arg(repo().join("scripts/peers/stop-peers.sh"))
        .arg("synapse")
        .status()
        .expect("stop script");
    assert!(stop.success());
    let guard = PeerBack("restart-synapse.sh");
    let p = Passerelle::start("early", &[]);
    std::thread::sleep(Duration::from_secs(2));
    let ready = http()
        .get(format!("{}/ready", p.url()))
        .send()
        .expect("reachable");
    assert_eq!(ready.status(), 503, "ready without a homeserver");
    drop(guard); // Synapse starts again.
    wait_for(
        "passerelle to reach the homeserver",
        Duration::from_secs(60),
        || {
            http()
                .get(format!("{}/ready", p.url()))
                .send()
                .ok()
                .filter(|r| r.status().is_success())
        },
    );
    assert!(p.log().contains("Connected to the homeserver."));
}

#[test]
fn doctor_passes_against_the_real_homeserver_and_explains_failures() {
    let _serial = serial();
    let config = crate::harness::base_config_path();
    let registration = config.with_file_name("registration.yaml");
    let dir = repo().join("target/it/doctor");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let db = dir.join("doctor.db");
    let doctor = |extra: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(["doctor", "-c"])
            .arg(&config)
            .arg("-r")
            .arg(&registration)
            .env("PASSERELLE_DATABASE__PATH", &db)
            .envs(extra.iter().copied())
            .output()
            .expect("doctor runs")
    };
    // passerelle is not running: doctor answers the homeserver's ping itself.
    let out = doctor(&[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "doctor failed:\n{text}");
    for check in [
        "✓ config",
        "✓ registration",
        "✓ database",
        "✓ homeserver",
        "✓ whoami",
        "✓ ping",
        "✓ connector test",
        "✓ connector xmpp: reachable",
    ] {
        assert!(text.contains(check), "missing `{check}` in:\n{text}");
    }
    // With passerelle running, the XMPP server refuses a second component connection: still ✓.
    let running = crate::harness::Passerelle::start("doctor-running", &[]);
    running.wait_ready(Duration::from_secs(30));
    wait_for("the XMPP link", Duration::from_secs(30), || {
        running
            .log()
            .contains("Connected to the XMPP server.")
            .then_some(())
    });
    let out = doctor(&[]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "doctor failed with passerelle running:\n{text}"
    );
    assert!(
        text.contains("✓ connector xmpp: degraded")
            && text.contains("fine if passerelle is running"),
        "{text}"
    );
    drop(running);
    // A registration that does not match: one ✗ line with the fix, and a failing exit code.
    let out = doctor(&[("PASSERELLE_APPSERVICE__BOT_LOCALPART", "someone_else")]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !out.status.success(),
        "doctor passed a wrong registration:\n{text}"
    );
    assert!(
        text.contains("✗ registration")
            && text.contains("sender_localpart")
            && text.contains("fix: "),
        "{text}"
    );
}
