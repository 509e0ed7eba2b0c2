//! SMS through a real Kannel (bearerbox + smsbox), the test playing the operator's SMSC, and a
//! real Synapse.

use std::time::Duration;

use serde_json::Value;

use crate::{
    harness::{
        Passerelle, PeerBack, User, base_config, bodies_from, enc, http, peer_script, serial,
        wait_for,
    },
    sms_peer::FakeSmsc,
};

const T: Duration = Duration::from_secs(30);
/// The organisation's number in the test configuration.
const ORG: &str = "+33100000000";

fn ghost(number: &str) -> String {
    format!("@_sms_{number}:{}", base_config().homeserver.server_name)
}

/// A staff member in a direct chat with the ghost of `number`.
fn chat_with(number: &str) -> (User, String, String) {
    let staff = User::register("smsstaff");
    let ghost = ghost(number);
    let room = staff.direct_chat(&ghost);
    (staff, room, ghost)
}

#[test]
fn sms_both_ways_with_unicode_and_a_delivery_receipt() {
    let _serial = serial();
    let p = Passerelle::start("sms-chat", &[]);
    p.wait_ready(T);
    let mut smsc = FakeSmsc::connect();
    let number = "+33612345678";
    let (staff, room, ghost) = chat_with(number);

    // Matrix → SMS, from the organisation's number, in the GSM alphabet.
    let event = staff.send_text(&room, "Bonjour, ici la mairie");
    let mt = smsc.next_mt(T).expect("the SMS reaches the SMSC");
    assert_eq!((mt.from.as_str(), mt.to.as_str()), (ORG, number));
    assert_eq!((mt.kind.as_str(), mt.parts), ("text", 1));
    assert_eq!(mt.latin1(), "Bonjour, ici la mairie");

    // Kannel's delivery report (the fake SMSC reports every SMS delivered) becomes a read
    // receipt from the contact's ghost on that message.
    wait_for("the ghost's read receipt", T, || {
        staff.ephemeral(&room).into_iter().find(|e| {
            e["type"] == "m.receipt"
                && e["content"][event.as_str()]["m.read"][ghost.as_str()].is_object()
        })
    });

    // SMS → Matrix, into the same room.
    smsc.send_mo(number, ORG, "Merci, bien recu");
    wait_for("the SMS in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"Merci, bien recu".to_owned())
            .then_some(())
    });

    // Unicode with an emoji, both ways: UCS-2 on the air.
    staff.send_text(&room, "Ça marche 😀 à 5 €");
    let mt = smsc.next_mt(T).expect("the Unicode SMS");
    assert_eq!((mt.kind.as_str(), mt.parts), ("ucs-2", 1));
    assert_eq!(mt.utf16(), "Ça marche 😀 à 5 €");
    smsc.send_mo(number, ORG, "Super 👍 merci ✓");
    wait_for("the Unicode SMS in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"Super 👍 merci ✓".to_owned())
            .then_some(())
    });
}

#[test]
fn a_300_character_sms_is_split_and_reassembled_both_ways() {
    let _serial = serial();
    let p = Passerelle::start("sms-long", &[]);
    p.wait_ready(T);
    let mut smsc = FakeSmsc::connect();
    let number = "+33612345679";
    let (staff, room, ghost) = chat_with(number);

    let long: String = (0..300)
        .map(|i| char::from(b'a' + u8::try_from(i % 26).expect("small")))
        .collect();
    staff.send_text(&room, &long);
    let mt = smsc.next_mt(T).expect("the long SMS");
    assert_eq!(
        (mt.kind.as_str(), mt.parts),
        ("udh", 2),
        "160 + 153: two parts"
    );
    assert_eq!(mt.latin1(), long);

    let reply: String = (0..300)
        .map(|i| if i % 10 == 9 { ' ' } else { 'z' })
        .collect();
    smsc.send_mo_parts(number, ORG, &[&reply[..153], &reply[153..]], 0x42);
    wait_for("the reassembled SMS in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&reply)
            .then_some(())
    });
}

#[test]
fn refusals_are_told_in_the_room_and_nothing_is_sent() {
    let _serial = serial();
    let p = Passerelle::start("sms-refusals", &[]);
    p.wait_ready(T);
    let mut smsc = FakeSmsc::connect();

    // Kannel has no route for this prefix: it refuses the SMS, and the room is told once.
    let unroutable = chat_with("+447911123456");
    let (staff, room, ghost) = &unroutable;
    let refused = staff.send_text(room, "Hello");
    let notice = wait_for("the failure notice", T, || {
        staff
            .notices_about(room, ghost, &refused)
            .into_iter()
            .next()
    });
    assert!(
        notice.contains("not delivered") && notice.contains("Not routable"),
        "{notice}"
    );

    // A contact who texts STOP is sent nothing more, until START.
    let number = "+33612345670";
    let (staff, room, ghost) = chat_with(number);
    smsc.send_mo(number, ORG, "STOP");
    wait_for("the STOP in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"STOP".to_owned())
            .then_some(())
    });
    let event = staff.send_text(&room, "Vous ne devriez pas recevoir ceci");
    let notice = wait_for("the opt-out notice", T, || {
        staff
            .notices_about(&room, &ghost, &event)
            .into_iter()
            .next()
    });
    assert!(
        notice.contains("asked to receive no more SMS") && notice.contains("START"),
        "{notice}"
    );

    // Longer than max_segments (6): refused, saying how many SMS it would take.
    smsc.send_mo(number, ORG, "start");
    wait_for("the START in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"start".to_owned())
            .then_some(())
    });
    let event = staff.send_text(&room, &"x".repeat(7 * 153 + 1));
    let notice = wait_for("the too-long notice", T, || {
        staff
            .notices_about(&room, &ghost, &event)
            .into_iter()
            .next()
    });
    assert!(notice.contains("take 8 SMS"), "{notice}");

    // After START, messages go out again; none of the refused ones ever reached the SMSC.
    staff.send_text(&room, "Welcome back");
    let mt = smsc.next_mt(T).expect("the SMS after START");
    assert_eq!(mt.to, number);
    assert_eq!(mt.latin1(), "Welcome back");
    assert!(smsc.next_mt(Duration::from_secs(1)).is_none());

    // One notice for the unroutable message, though Kannel also sent a failure report.
    let (staff, room, ghost) = &unroutable;
    assert_eq!(staff.notices_about(room, ghost, &refused).len(), 1);
}

#[test]
fn numbers_are_looked_up_and_bad_webhook_calls_refused() {
    let _serial = serial();
    let p = Passerelle::start("sms-lookup", &[]);
    p.wait_ready(T);
    let staff = User::register("smslookup");

    let found = staff.get_json(&format!(
        "/_matrix/client/v3/thirdparty/user/sms?number={}",
        enc("06 12 34 56 78")
    ));
    assert_eq!(found[0]["userid"], ghost("+33612345678"), "{found}");
    let none = staff.get_json("/_matrix/client/v3/thirdparty/user/sms?number=12");
    assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");

    // The bot answers an invalid number clearly.
    let bot = base_config().bot_user_id();
    let room = staff.create_room(&[&bot], false);
    wait_for("the bot to join", T, || {
        staff.members(&room).contains(&bot).then_some(())
    });
    staff.send_text(&room, "!passerelle link sms 12");
    let answer = wait_for("the bot's answer", T, || {
        staff
            .messages(&room)
            .into_iter()
            .find(|m| m["sender"] == bot.as_str())
    });
    let text = answer["content"]["body"].as_str().unwrap_or_default();
    assert!(text.contains("not a valid phone number"), "{text}");

    // Kannel's callbacks must carry the webhook token.
    let webhook = base_config()
        .connectors
        .iter()
        .find_map(|c| match c {
            passerelle::config::ConnectorConfig::Sms(s) => Some(s.webhook_bind),
            _ => None,
        })
        .expect("the base config has an sms connector");
    for query in ["from=%2B33612345678", "from=%2B33612345678&token=wrong"] {
        let status = http()
            .post(format!("http://{webhook}/kannel/mo?{query}"))
            .body("hi")
            .send()
            .expect("webhook reachable")
            .status();
        assert_eq!(status.as_u16(), 403, "{query}");
    }
}

#[test]
fn a_kannel_restart_loses_nothing_and_repeats_nothing() {
    let _serial = serial();
    let p = Passerelle::start("sms-kannel-restart", &[]);
    p.wait_ready(T);
    let mut smsc = FakeSmsc::connect();
    let number = "+33612345681";
    let (staff, room, ghost) = chat_with(number);
    staff.send_text(&room, "before the restart");
    let mt = smsc.next_mt(T).expect("the SMS before the restart");
    assert_eq!(mt.latin1(), "before the restart");

    // The gateway goes away (bearerbox and smsbox); what staff write meanwhile waits in
    // passerelle's outbox, retried with backoff, and nobody is told it failed.
    peer_script("stop-peers.sh", &["smsbox", "bearerbox"], &[]);
    let back = PeerBack("start-kannel.sh");
    drop(smsc);
    let during: Vec<String> = (1..=3).map(|i| format!("during the outage {i}")).collect();
    for text in &during {
        staff.send_text(&room, text);
    }
    wait_for("passerelle to find Kannel away", T, || {
        p.log().contains("Kannel is not reachable").then_some(())
    });
    drop(back); // Kannel starts again, same ports and configuration.

    let mut smsc = FakeSmsc::connect();
    let sent: Vec<String> = during
        .iter()
        .map(|_| {
            smsc.next_mt(Duration::from_secs(90))
                .expect("the SMS written during the outage")
                .latin1()
        })
        .collect();
    assert_eq!(sent, during, "each once, in order");
    assert!(
        smsc.next_mt(Duration::from_secs(3)).is_none(),
        "nothing sent twice"
    );

    // Both ways again, and no failure notice for what waited.
    smsc.send_mo(number, ORG, "Bien recu apres la coupure");
    wait_for("the SMS after the restart", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"Bien recu apres la coupure".to_owned())
            .then_some(())
    });
    let notices: Vec<Value> = staff
        .messages(&room)
        .into_iter()
        .filter(|m| m["content"]["msgtype"] == "m.notice")
        .collect();
    assert!(notices.is_empty(), "no failure notice: {notices:?}");
}
