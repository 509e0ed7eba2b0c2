//! passerelle started before the homeserver still ends up connected.

use std::{process::Command, time::Duration};

use crate::harness::{Passerelle, http, repo, serial, wait_for};

/// Restarts Synapse even if the test fails half-way.
struct SynapseBack;

impl Drop for SynapseBack {
    fn drop(&mut self) {
        let status = Command::new("bash")
            .arg(repo().join("scripts/peers/restart-synapse.sh"))
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "could not restart Synapse"
        );
    }
}

#[test]
fn started_before_the_homeserver_it_connects_when_it_comes_up() {
    let _serial = serial();
    let stop = Command::new("bash")
        .arg(repo().join("scripts/peers/stop-peers.sh"))
        .arg("synapse")
        .status()
        .expect("stop script");
    assert!(stop.success());
    let guard = SynapseBack;
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
