//! XMPP: one-to-one chats through a real Prosody, with a real XMPP client on the other side.

use std::time::Duration;

use serde_json::json;

use crate::{
    harness::{Passerelle, User, bodies_from, serial, wait_for},
    xmpp_peer::{XmppUser, ghost_of, jid_of},
};

const T: Duration = Duration::from_secs(30);

#[test]
fn one_to_one_chat_both_ways() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-chat", &[]);
    p.wait_ready(T);
    let mut alice = XmppUser::login("alice");
    let staff = User::register("xstaff");
    let ghost = ghost_of(&alice.jid);
    let room = staff.create_room(&[&ghost], true);
    wait_for("the XMPP ghost to join", T, || {
        staff.members(&room).contains(&ghost).then_some(())
    });

    // Matrix → XMPP, from the staff member's own JID.
    staff.send_text(&room, "Bonjour Alice, ici la mairie");
    let received = alice.wait_body("Bonjour Alice, ici la mairie");
    assert_eq!(
        received["from"]
            .as_str()
            .map(|f| f.split('/').next().unwrap_or(f)),
        Some(jid_of(&staff.user_id).as_str())
    );
    assert_eq!(received["type"], "chat");

    // XMPP → Matrix, into the same room.
    alice.send(&jid_of(&staff.user_id), "Merci, bien reçu");
    wait_for("alice's answer in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"Merci, bien reçu".to_owned())
            .then_some(())
    });
}

#[test]
fn an_xmpp_user_can_start_a_chat_with_a_matrix_user() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-inbound", &[]);
    p.wait_ready(T);
    let staff = User::register("xreceiver");
    let mut bob = XmppUser::login("bob");
    // Clients see the Matrix user as an entity that exists.
    bob.cmd(json!({"cmd": "disco", "to": jid_of(&staff.user_id)}));
    let disco = bob.wait_event("disco#info", T, |e| {
        e["event"] == "disco" || e["event"] == "error"
    });
    assert_eq!(disco["event"], "disco", "{disco}");
    bob.send(&jid_of(&staff.user_id), "Hello from XMPP");
    let room = wait_for("an invitation", T, || staff.invites().into_iter().next());
    staff.join(&room);
    let ghost = ghost_of(&bob.jid);
    wait_for("bob's message", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"Hello from XMPP".to_owned())
            .then_some(())
    });
    staff.send_text(&room, "Hello back from Matrix");
    bob.wait_body("Hello back from Matrix");
}

#[test]
fn a_malformed_stanza_is_skipped_and_the_link_stays_up() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-malformed", &[]);
    p.wait_ready(T);
    let staff = User::register("xrobust");
    let mut carol = XmppUser::login("carol");
    let to = jid_of(&staff.user_id);
    // Invalid for xmpp-parsers (an unknown message type), but well-formed XML the server relays.
    carol.cmd(json!({"cmd": "raw", "xml": format!("<message to='{to}' type='bogus' id='bad1'><body>bad</body></message>")}));
    carol.send(&to, "still connected");
    let room = wait_for("an invitation", T, || staff.invites().into_iter().next());
    staff.join(&room);
    let ghost = ghost_of(&carol.jid);
    wait_for("the good message", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"still connected".to_owned())
            .then_some(())
    });
    assert!(
        !p.log().contains("Lost the XMPP server"),
        "the malformed stanza dropped the link"
    );
}
