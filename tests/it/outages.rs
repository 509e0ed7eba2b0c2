//! Long outages, run on demand (they take minutes or need root):
//! `scripts/test.sh --test it -- outages --ignored --nocapture`.

use std::{path::PathBuf, process::Command, time::Duration};

use crate::harness::{
    Passerelle, PeerBack, User, bodies_from, ghost, peer_script, serial, wait_for,
};

const T: Duration = Duration::from_secs(60);

/// A direct chat between a new staff member and a test-network contact that echoes.
fn chat(p: &Passerelle, contact: &str) -> (User, String, String) {
    p.wait_ready(T);
    let staff = User::register("outage");
    let contact = ghost(contact);
    let room = staff.direct_chat(&contact);
    (staff, room, contact)
}

#[test]
#[ignore = "takes over a minute"]
fn the_homeserver_away_for_a_minute_loses_nothing() {
    let _serial = serial();
    let p = Passerelle::start("outage-hs", &[]);
    let (staff, room, contact) = chat(&p, "patient");
    staff.send_text(&room, "before");
    wait_for("the echo", T, || {
        bodies_from(&staff.messages(&room), &contact)
            .contains(&"echo: before".to_owned())
            .then_some(())
    });

    peer_script("stop-peers.sh", &["synapse"], &[]);
    let back = PeerBack("restart-synapse.sh");
    // The contact keeps writing for a minute; passerelle stores it all.
    let texts: Vec<String> = (0..12).map(|i| format!("during {i}")).collect();
    for (i, text) in texts.iter().enumerate() {
        p.inject("patient", text, &format!("patient-outage-{i}"));
        std::thread::sleep(Duration::from_secs(5));
    }
    drop(back);
    let bodies = wait_for(
        "every message after the outage",
        Duration::from_secs(180),
        || {
            let bodies = bodies_from(&staff.messages(&room), &contact);
            texts.iter().all(|t| bodies.contains(t)).then_some(bodies)
        },
    );
    let during: Vec<&String> = bodies.iter().filter(|b| b.starts_with("during ")).collect();
    assert_eq!(
        during,
        texts.iter().collect::<Vec<_>>(),
        "once each, in order"
    );
}

/// Unmounts the small filesystem even if the test fails.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs root (mounts a 8 MiB tmpfs for the database)"]
fn a_full_disk_stops_acknowledging_and_recovers_when_space_returns() {
    let _serial = serial();
    let dir = crate::harness::repo().join("target/it/outage-disk-fs");
    let _ = Command::new("umount").arg("-l").arg(&dir).status();
    std::fs::create_dir_all(&dir).expect("mount point");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&dir)
        .status()
        .expect("mount runs");
    assert!(mounted.success(), "cannot mount a tmpfs (run as root)");
    let _unmount = Unmount(dir.clone());
    let db = dir.join("passerelle.db");
    let p = Passerelle::start(
        "outage-disk",
        &[(
            "PASSERELLE_DATABASE__PATH",
            db.to_str().expect("utf-8 path"),
        )],
    );
    let (staff, room, contact) = chat(&p, "diskful");

    // Fill the filesystem, leaving the database no room to grow.
    let filler = dir.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .status();
    let texts: Vec<String> = (0..10).map(|i| format!("disk full {i}")).collect();
    for text in &texts {
        staff.send_text(&room, text);
    }
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        p.log().contains("Cannot store the transaction"),
        "passerelle acknowledged what it could not store"
    );

    // Space returns: Synapse's retries get through, each message once, in order.
    std::fs::remove_file(&filler).expect("free the space");
    let echoes: Vec<String> = texts.iter().map(|t| format!("echo: {t}")).collect();
    let bodies = wait_for(
        "every message after space returned",
        Duration::from_secs(300),
        || {
            let bodies = bodies_from(&staff.messages(&room), &contact);
            echoes.iter().all(|e| bodies.contains(e)).then_some(bodies)
        },
    );
    let got: Vec<&String> = bodies
        .iter()
        .filter(|b| b.starts_with("echo: disk full"))
        .collect();
    assert_eq!(
        got,
        echoes.iter().collect::<Vec<_>>(),
        "once each, in order"
    );
    let sent: Vec<String> = p
        .sent()
        .iter()
        .filter_map(|s| s["body"].as_str().map(str::to_owned))
        .filter(|b| b.starts_with("disk full"))
        .collect();
    assert_eq!(sent, texts, "delivered to the network once each, in order");
}
