//! What operators watch: `/ready` per connector and the Prometheus metrics.

use std::time::Duration;

use serde_json::Value;

use crate::{
    harness::{Passerelle, User, bodies_from, ghost, http, serial, wait_for},
    xmpp_peer::env,
};

const T: Duration = Duration::from_secs(30);

/// The value of the sample `name` (with its labels, as printed) in a metrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn ready_reports_each_connector_and_metrics_count_the_traffic() {
    let _serial = serial();
    let bind = format!("127.0.0.1:{}", env("PASSERELLE_IT_METRICS_PORT"));
    let p = Passerelle::start("operations", &[("PASSERELLE_METRICS__BIND", &bind)]);
    p.wait_ready(T);
    let ready: Value = http()
        .get(format!("{}/ready", p.url()))
        .send()
        .expect("ready")
        .json()
        .expect("json");
    for connector in ["test", "xmpp", "email"] {
        assert_eq!(ready["connectors"][connector], "ok", "{ready}");
    }

    // One message each way through the test network (it echoes).
    let staff = User::register("ops");
    let contact = ghost("opsecho");
    let room = staff.direct_chat(&contact);
    staff.send_text(&room, "count me");
    wait_for("the echo", T, || {
        bodies_from(&staff.messages(&room), &contact)
            .contains(&"echo: count me".to_owned())
            .then_some(())
    });

    let metrics_url = format!("http://{bind}/metrics");
    let text = wait_for("metrics with both directions counted", T, || {
        let text = http().get(&metrics_url).send().ok()?.text().ok()?;
        let out = sample(
            &text,
            r#"passerelle_messages_total{connector="test",direction="out"}"#,
        )?;
        let inbound = sample(
            &text,
            r#"passerelle_messages_total{connector="test",direction="in"}"#,
        )?;
        (out >= 1.0 && inbound >= 1.0).then_some(text)
    });
    let latency = sample(
        &text,
        r#"passerelle_homeserver_request_duration_seconds_count{endpoint="send_message_event"}"#,
    );
    assert!(latency.is_some_and(|n| n >= 1.0), "{text}");
    // Queue and count gauges are refreshed from the database every 5 s.
    let text = wait_for("the portal and ghost counts", T, || {
        let text = http().get(&metrics_url).send().ok()?.text().ok()?;
        let portals = sample(&text, "passerelle_portals")?;
        let ghosts = sample(&text, "passerelle_ghosts")?;
        (portals >= 1.0 && ghosts >= 1.0).then_some(text)
    });
    for queue in ["inbox", "remote_inbox", "outbox_matrix", "outbox_remote"] {
        let depth = format!("passerelle_queue_depth{{queue=\"{queue}\"}}");
        let age = format!("passerelle_queue_oldest_age_seconds{{queue=\"{queue}\"}}");
        assert!(sample(&text, &depth).is_some(), "{depth} missing: {text}");
        assert!(sample(&text, &age).is_some(), "{age} missing: {text}");
    }
}
