//! XMPP: one-to-one chats through a real Prosody, with a real XMPP client on the other side.

use std::time::Duration;

use serde_json::json;

use crate::{
    harness::{Passerelle, User, bodies_from, peer_script, serial, wait_for},
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
    let room = staff.direct_chat(&ghost);

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
    let id = alice.send(&jid_of(&staff.user_id), "Merci, bien reçu");
    wait_for("alice's answer in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"Merci, bien reçu".to_owned())
            .then_some(())
    });
    // Her client asked for a receipt (XEP-0184): passerelle sends it once the message is stored.
    let receipt = alice.wait_event("the delivery receipt", T, |e| e["received"] == id.as_str());
    assert_eq!(
        receipt["from"]
            .as_str()
            .map(|f| f.split('/').next().unwrap_or(f)),
        Some(jid_of(&staff.user_id).as_str())
    );
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

/// A direct chat between a fresh staff member and an XMPP account, both ways ready.
fn chat_with(user: &str, name: &str) -> (Passerelle, User, XmppUser, String, String) {
    let p = Passerelle::start(name, &[]);
    p.wait_ready(T);
    let xmpp = XmppUser::login(user);
    let staff = User::register("xfid");
    let ghost = ghost_of(&xmpp.jid);
    let room = staff.direct_chat(&ghost);
    (p, staff, xmpp, room, ghost)
}

/// The room event bridged from the XMPP message with this body.
fn event_with_body(staff: &User, room: &str, sender: &str, body: &str) -> serde_json::Value {
    wait_for(&format!("{body:?} in the room"), T, || {
        staff
            .events(room)
            .into_iter()
            .find(|e| e["sender"] == sender && e["content"]["body"] == body)
    })
}

#[test]
fn corrections_both_ways() {
    let _serial = serial();
    let (_p, staff, mut alice, room, ghost) = chat_with("alice", "xmpp-edit");
    let staff_jid = jid_of(&staff.user_id);

    let original = staff.send_text(&room, "helo");
    let first = alice.wait_body("helo");
    staff.send_event(
        &room,
        "m.room.message",
        &json!({
            "msgtype": "m.text", "body": "* hello",
            "m.new_content": {"msgtype": "m.text", "body": "hello"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        }),
    );
    let corrected = alice.wait_body("hello");
    assert_eq!(
        corrected["replace_id"], first["id"],
        "XEP-0308 must name the corrected stanza"
    );

    let id = alice.send(&staff_jid, "tpyo");
    let typo = event_with_body(&staff, &room, &ghost, "tpyo");
    alice.cmd(json!({"cmd": "correct", "to": staff_jid, "replace_id": id, "body": "typo fixed"}));
    let edit = wait_for("the correction in the room", T, || {
        staff.events(&room).into_iter().find(|e| {
            e["content"]["m.relates_to"]["rel_type"] == "m.replace" && e["sender"] == ghost.as_str()
        })
    });
    assert_eq!(
        edit["content"]["m.relates_to"]["event_id"],
        typo["event_id"]
    );
    assert_eq!(edit["content"]["m.new_content"]["body"], "typo fixed");
}

#[test]
fn reactions_both_ways_with_full_set_semantics() {
    let _serial = serial();
    let (_p, staff, mut alice, room, ghost) = chat_with("bob", "xmpp-react");
    let staff_jid = jid_of(&staff.user_id);

    // Matrix → XMPP: add, then remove by redacting the reaction.
    let id = alice.send(&staff_jid, "react to this");
    let target = event_with_body(&staff, &room, &ghost, "react to this");
    let reaction = staff.send_event(&room, "m.reaction", &json!({
        "m.relates_to": {"rel_type": "m.annotation", "event_id": target["event_id"], "key": "👍"}
    }));
    let added = alice.wait_event("the reaction", T, |e| {
        e["reactions"]["id"] == id.as_str() && e["reactions"]["emojis"] == json!(["👍"])
    });
    assert_eq!(added["reactions"]["emojis"], json!(["👍"]));
    staff.redact(&room, &reaction);
    alice.wait_event("the emptied reaction set", T, |e| {
        e["reactions"]["id"] == id.as_str() && e["reactions"]["emojis"] == json!([])
    });

    // XMPP → Matrix: a set of two, then a set of one removes the other.
    staff.send_text(&room, "and this");
    let mine = alice.wait_body("and this");
    let mine_id = mine["id"].as_str().expect("id").to_owned();
    alice.cmd(json!({"cmd": "react", "to": staff_jid, "id": mine_id, "reactions": ["🎉", "👍"]}));
    let live_keys = |staff: &User| -> Vec<String> {
        let mut keys: Vec<String> = staff
            .events(&room)
            .into_iter()
            .filter(|e| e["type"] == "m.reaction" && e["sender"] == ghost.as_str())
            .filter_map(|e| {
                e["content"]["m.relates_to"]["key"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        keys.sort();
        keys
    };
    wait_for("two reactions", T, || {
        (live_keys(&staff) == ["🎉", "👍"]).then_some(())
    });
    alice.cmd(json!({"cmd": "react", "to": staff_jid, "id": mine_id, "reactions": ["🎉"]}));
    wait_for("one reaction left", T, || {
        (live_keys(&staff) == ["🎉"]).then_some(())
    });
}

#[test]
fn retractions_both_ways() {
    let _serial = serial();
    let (_p, staff, mut alice, room, ghost) = chat_with("carol", "xmpp-retract");
    let staff_jid = jid_of(&staff.user_id);

    let event = staff.send_text(&room, "sent by mistake");
    let sent = alice.wait_body("sent by mistake");
    staff.redact(&room, &event);
    alice.wait_event("the retraction", T, |e| e["retract_id"] == sent["id"]);

    let id = alice.send(&staff_jid, "oops");
    let bridged = event_with_body(&staff, &room, &ghost, "oops");
    alice.cmd(json!({"cmd": "retract", "to": staff_jid, "id": id}));
    wait_for("the message redacted in the room", T, || {
        staff.events(&room).into_iter().find(|e| {
            e["event_id"] == bridged["event_id"]
                && e["content"].as_object().is_some_and(|c| c.is_empty())
        })
    });
}

#[test]
fn replies_both_ways() {
    let _serial = serial();
    let (_p, staff, mut alice, room, ghost) = chat_with("alice", "xmpp-reply");
    let staff_jid = jid_of(&staff.user_id);

    let id = alice.send(&staff_jid, "a question");
    let question = event_with_body(&staff, &room, &ghost, "a question");
    staff.send_event(
        &room,
        "m.room.message",
        &json!({
            "msgtype": "m.text", "body": "the answer",
            "m.relates_to": {"m.in_reply_to": {"event_id": question["event_id"]}},
        }),
    );
    let answer = alice.wait_event("the reply", T, |e| {
        e["event"] == "message" && e["reply"]["id"] == id.as_str()
    });
    // Clients without XEP-0461 see a quote, marked as fallback for those with it.
    assert_eq!(answer["body"], "> a question\nthe answer");
    let xml = answer["xml"].as_str().unwrap_or_default();
    assert!(
        xml.contains("urn:xmpp:fallback:0")
            && (xml.contains("end=\"13\"") || xml.contains("end='13'")),
        "{xml}"
    );

    let from_staff = staff.send_text(&room, "your turn");
    let received = alice.wait_body("your turn");
    alice.cmd(json!({"cmd": "send", "to": staff_jid, "body": "replying", "reply_to": {"id": received["id"], "to": staff_jid}}));
    let reply = event_with_body(&staff, &room, &ghost, "replying");
    assert_eq!(
        reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        from_staff.as_str()
    );
}

#[test]
fn typing_and_read_markers_both_ways() {
    let _serial = serial();
    let (_p, staff, mut alice, room, ghost) = chat_with("bob", "xmpp-markers");
    let staff_jid = jid_of(&staff.user_id);

    staff.typing(&room, true);
    alice.wait_event("composing", T, |e| e["chatstate"] == "composing");

    let event = staff.send_text(&room, "please read");
    let received = alice.wait_body("please read");
    alice.cmd(json!({"cmd": "displayed", "to": staff_jid, "id": received["id"]}));
    wait_for("the ghost's read receipt", T, || {
        staff.ephemeral(&room).into_iter().find(|e| {
            e["type"] == "m.receipt"
                && e["content"][event.as_str()]["m.read"][ghost.as_str()].is_object()
        })
    });

    alice.cmd(json!({"cmd": "chatstate", "to": staff_jid, "state": "composing"}));
    wait_for("the ghost typing", T, || {
        staff.ephemeral(&room).into_iter().find(|e| {
            e["type"] == "m.typing"
                && e["content"]["user_ids"]
                    .as_array()
                    .is_some_and(|u| u.iter().any(|u| u == ghost.as_str()))
        })
    });

    let id = alice.send(&staff_jid, "read mine");
    let mine = event_with_body(&staff, &room, &ghost, "read mine");
    staff.read(&room, mine["event_id"].as_str().expect("event id"));
    alice.wait_event("the displayed marker", T, |e| e["displayed"] == id.as_str());
}

#[test]
fn a_bounced_message_is_reported_in_the_room() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-bounce", &[]);
    p.wait_ready(T);
    let staff = User::register("xbounce");
    // An account that exists but is not connected; the test server keeps no offline messages.
    let ghost = ghost_of(&format!(
        "carol@{}",
        crate::xmpp_peer::env("PASSERELLE_IT_XMPP_HOST")
    ));
    let room = staff.direct_chat(&ghost);
    let event = staff.send_text(&room, "anyone there?");
    let notice = wait_for("the failure notice", T, || {
        staff
            .messages(&room)
            .into_iter()
            .find(|m| m["content"]["msgtype"] == "m.notice")
    });
    let body = notice["content"]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("Not delivered") && body.contains("carol@"),
        "{body}"
    );
    assert_eq!(
        notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        event.as_str()
    );
}

#[test]
fn a_prosody_restart_loses_nothing() {
    let _serial = serial();
    let (p, staff, mut alice, room, ghost) = chat_with("alice", "xmpp-restart");
    let staff_jid = jid_of(&staff.user_id);
    staff.send_text(&room, "before the restart");
    alice.wait_body("before the restart");
    drop(alice);

    // The server goes away; messages written meanwhile wait in passerelle's outbox.
    peer_script("stop-peers.sh", &["prosody"], &[]);
    let during: Vec<String> = (1..=3).map(|i| format!("during the outage {i}")).collect();
    let events: Vec<String> = during
        .iter()
        .map(|text| staff.send_text(&room, text))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    peer_script("start-prosody.sh", &[], &[("KEEP_DATA", "1")]);
    let mut alice = XmppUser::login("alice");
    wait_for("passerelle to reconnect", T, || {
        (p.log().matches("Connected to the XMPP server.").count() >= 2).then_some(())
    });

    // Each message sent during the outage was delivered, or the room was told it was not.
    for (text, event) in during.iter().zip(&events) {
        wait_for(&format!("{text:?} delivered or reported"), T, || {
            alice.drain();
            let delivered = alice
                .seen
                .iter()
                .any(|e| e["event"] == "message" && e["body"] == text.as_str());
            let reported = staff.messages(&room).into_iter().any(|m| {
                m["content"]["msgtype"] == "m.notice"
                    && m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event.as_str()
            });
            (delivered || reported).then_some(())
        });
    }
    // After the restart, both directions work again, in order.
    staff.send_text(&room, "after the restart");
    alice.wait_body("after the restart");
    alice.send(&staff_jid, "back online");
    wait_for("alice's message", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"back online".to_owned())
            .then_some(())
    });
}

#[test]
fn xhtml_im_arrives_as_sanitised_formatted_text() {
    let _serial = serial();
    let (_p, staff, mut alice, room, ghost) = chat_with("carol", "xmpp-xhtml");
    let staff_jid = jid_of(&staff.user_id);
    alice.cmd(
        json!({"cmd": "send", "to": staff_jid, "body": "Hello *world*",
                     "html": "Hello <strong>world</strong><script>alert(1)</script>"}),
    );
    let message = event_with_body(&staff, &room, &ghost, "Hello *world*");
    let formatted = message["content"]["formatted_body"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(message["content"]["format"], "org.matrix.custom.html");
    assert!(
        formatted.contains("<strong>world</strong>") && !formatted.contains("script"),
        "{formatted}"
    );
}

/// Serves `/photo.png` (a small PNG-typed file) and `/big.bin` (4 KiB) on 127.0.0.1, standing in
/// for an XMPP server's HTTP upload service; returns the base URL.
fn file_server() -> String {
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
            tx.send(listener.local_addr().expect("addr")).expect("addr");
            let app = axum::Router::new()
                .route(
                    "/photo.png",
                    axum::routing::get(|| async {
                        (
                            [("content-type", "image/png")],
                            vec![0x89u8, b'P', b'N', b'G', 1, 2, 3],
                        )
                    }),
                )
                .route("/big.bin", axum::routing::get(|| async { vec![7u8; 4096] }));
            let _ = axum::serve(listener, app).await;
        });
    });
    format!("http://{}", rx.recv().expect("file server address"))
}

#[test]
fn out_of_band_files_are_copied_into_matrix_within_limits() {
    let _serial = serial();
    let files = file_server();
    let p = Passerelle::start(
        "xmpp-oob",
        &[
            ("PASSERELLE_MEDIA__ALLOW_PRIVATE_NETWORKS", "true"),
            ("PASSERELLE_HOMESERVER__MAX_MEDIA_SIZE", "2 KiB"),
        ],
    );
    p.wait_ready(T);
    let mut alice = XmppUser::login("alice");
    let staff = User::register("xfiles");
    let ghost = ghost_of(&alice.jid);
    let room = staff.direct_chat(&ghost);
    let staff_jid = jid_of(&staff.user_id);

    let photo = format!("{files}/photo.png");
    alice.cmd(json!({"cmd": "send", "to": staff_jid, "body": photo, "oob_url": photo}));
    let image = wait_for("the image", T, || {
        staff
            .messages(&room)
            .into_iter()
            .find(|m| m["content"]["msgtype"] == "m.image")
    });
    assert_eq!(image["sender"], ghost.as_str());
    assert_eq!(image["content"]["body"], "photo.png");
    assert_eq!(image["content"]["info"]["size"], 7);
    assert!(
        image["content"]["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("mxc://"))
    );

    // Over homeserver.max_media_size: not copied, and the room is told where it was.
    let big = format!("{files}/big.bin");
    alice.cmd(json!({"cmd": "send", "to": staff_jid, "body": big, "oob_url": big}));
    let note = wait_for("the refusal", T, || {
        staff.messages(&room).into_iter().find(|m| {
            m["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("big.bin"))
        })
    });
    assert!(
        note["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("larger")),
        "{note}"
    );
}

#[test]
fn out_of_band_links_to_internal_addresses_are_not_fetched_by_default() {
    let _serial = serial();
    let files = file_server();
    let (_p, staff, mut alice, room, ghost) = chat_with("bob", "xmpp-ssrf");
    let url = format!("{files}/photo.png");
    alice.cmd(json!({"cmd": "send", "to": jid_of(&staff.user_id), "body": url, "oob_url": url}));
    let note = wait_for("the refusal", T, || {
        staff.messages(&room).into_iter().find(|m| {
            m["sender"] == ghost.as_str()
                && m["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("photo.png"))
        })
    });
    let body = note["content"]["body"].as_str().unwrap_or_default();
    assert!(body.contains("internal address"), "{body}");
    assert_eq!(note["content"]["msgtype"], "m.text");
}

#[test]
fn files_from_matrix_reach_xmpp_as_signed_links() {
    let _serial = serial();
    let base = format!("http://{}", crate::harness::base_config().appservice.bind);
    let p = Passerelle::start("xmpp-share", &[("PASSERELLE_MEDIA__PUBLIC_URL", &base)]);
    p.wait_ready(T);
    let mut alice = XmppUser::login("alice");
    let staff = User::register("xsharer");
    let ghost = ghost_of(&alice.jid);
    let room = staff.direct_chat(&ghost);

    let data: Vec<u8> = (0..2000u32).map(|i| (i % 199) as u8).collect();
    let mxc = staff.upload(data.clone(), "application/pdf");
    staff.send_file(&room, &mxc, "compte-rendu.pdf", data.len());
    let received = alice.wait_event("the file link", T, |e| {
        e["event"] == "message" && e["oob_url"].is_string()
    });
    let url = received["oob_url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("{base}/_passerelle/media/v1/"))
            && url.ends_with("/compte-rendu.pdf"),
        "{url}"
    );
    assert_eq!(received["body"], url.as_str());
    // The XMPP user fetches the very file, without any Matrix credentials.
    let fetched = crate::harness::http().get(&url).send().expect("fetch");
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().expect("bytes").to_vec(), data);
    // A link with a forged signature serves nothing.
    let token_start = url.find("/v1/").expect("prefix") + 4;
    let dot = token_start + url[token_start..].find('.').expect("signature") + 1;
    let flipped = if url[dot..].starts_with('0') {
        '1'
    } else {
        '0'
    };
    let forged = format!("{}{flipped}{}", &url[..dot], &url[dot + 1..]);
    assert_eq!(
        crate::harness::http()
            .get(&forged)
            .send()
            .expect("fetch")
            .status(),
        404
    );
}

#[test]
fn a_matrix_room_linked_to_a_group_chat_carries_messages_both_ways() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-muc", &[]);
    p.wait_ready(T);
    let (mut bob, room_jid) = in_group_chat("bob", "bob", "team");

    // Inviting the room's ghost links the Matrix room with the group chat.
    let staff = User::register("xmuc");
    let room_ghost = ghost_of(&room_jid);
    let room = staff.create_room(&[&room_ghost], false);
    wait_for("the room ghost to join", T, || {
        staff.members(&room).contains(&room_ghost).then_some(())
    });
    bob.wait_event("the bridge's occupant", T, |e| {
        e["event"] == "presence" && e["from"] == format!("{room_jid}/Matrix")
    });

    staff.send_text(&room, "hello group");
    let got = bob.wait_body("hello group");
    assert_eq!(got["type"], "groupchat");
    let staff_nick = staff
        .user_id
        .trim_start_matches('@')
        .split(':')
        .next()
        .expect("localpart")
        .to_owned();
    assert_eq!(got["from"], format!("{room_jid}/{staff_nick}"));

    bob.cmd(json!({"cmd": "send", "to": room_jid, "type": "groupchat", "body": "hello Matrix", "id": "g1"}));
    let occupant = format!(
        "@_xmpp_{}/bob:{}",
        room_jid.replace('@', "=40"),
        crate::harness::base_config().homeserver.server_name
    );
    wait_for("bob's group message", T, || {
        bodies_from(&staff.messages(&room), &occupant)
            .contains(&"hello Matrix".to_owned())
            .then_some(())
    });
    // Received by two occupants (the bridge's and the staff member's), bridged once; the staff
    // member's own message is not echoed back.
    std::thread::sleep(Duration::from_secs(1));
    let messages = staff.messages(&room);
    assert_eq!(bodies_from(&messages, &occupant), ["hello Matrix"]);
    assert!(
        messages
            .iter()
            .filter(|m| m["content"]["body"] == "hello group")
            .count()
            == 1
    );
    assert_eq!(staff.display_name(&occupant).as_deref(), Some("bob"));

    // The subject and the occupants follow.
    bob.cmd(json!({"cmd": "subject", "room": room_jid, "subject": "Réunion de lundi"}));
    wait_for("the subject in Matrix", T, || {
        let topic_set = staff.events(&room).into_iter().any(|e| {
            (e["type"] == "m.room.topic" && e["content"]["topic"] == "Réunion de lundi")
                || e["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Réunion de lundi"))
        });
        topic_set.then_some(())
    });
    bob.cmd(json!({"cmd": "leave", "room": room_jid}));
    wait_for("bob's ghost to leave", T, || {
        (!staff.members(&room).contains(&occupant)).then_some(())
    });
}

#[test]
fn group_chat_occupants_appear_before_they_speak() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-occupants", &[]);
    p.wait_ready(T);
    let (_carol, room_jid) = in_group_chat("carol", "Carol", "hall");
    let staff = User::register("xhall");
    let room_ghost = ghost_of(&room_jid);
    let room = staff.create_room(&[&room_ghost], false);
    let occupant = format!(
        "@_xmpp_{}/_carol:{}",
        room_jid.replace('@', "=40"),
        crate::harness::base_config().homeserver.server_name
    );
    wait_for("carol's ghost in the Matrix room", T, || {
        staff.members(&room).contains(&occupant).then_some(())
    });
    assert_eq!(staff.display_name(&occupant).as_deref(), Some("Carol"));
}

#[test]
fn joining_a_group_chat_alias_creates_the_linked_room() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-alias", &[]);
    p.wait_ready(T);
    let (mut alice, room_jid) = in_group_chat("alice", "alice", "lobby");

    let staff = User::register("xalias");
    let alias = format!(
        "#_xmpp_{}:{}",
        room_jid.replace('@', "=40"),
        crate::harness::base_config().homeserver.server_name
    );
    staff.join(&alias);
    let room = wait_for("the joined room", T, || {
        let rooms: Vec<String> = crate::harness::User::joined_rooms(&staff);
        rooms.into_iter().next()
    });
    alice.wait_event("the bridge's occupant", T, |e| {
        e["event"] == "presence" && e["from"] == format!("{room_jid}/Matrix")
    });
    staff.send_text(&room, "joined through the alias");
    alice.wait_body("joined through the alias");
}

#[test]
fn clients_find_an_xmpp_contact_through_third_party_lookup() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-lookup", &[]);
    p.wait_ready(T);
    let staff = User::register("xlookup");
    let found = staff.get_json("/_matrix/client/v3/thirdparty/user/xmpp?jid=Alice@Localhost/phone");
    let host = crate::xmpp_peer::env("PASSERELLE_IT_XMPP_HOST");
    assert_eq!(
        found[0]["userid"],
        ghost_of(&format!("alice@{host}")).as_str(),
        "{found}"
    );
    assert_eq!(found[0]["fields"]["jid"], format!("alice@{host}"));
    let protocol = staff.get_json("/_matrix/client/v3/thirdparty/protocol/xmpp");
    assert_eq!(protocol["user_fields"], json!(["jid"]), "{protocol}");
}

#[test]
fn ghosts_take_their_name_from_the_vcard() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-vcard", &[]);
    p.wait_ready(T);
    let mut carol = XmppUser::login("carol");
    carol.cmd(json!({"cmd": "raw", "xml": "<iq type='set' id='vc1'><vCard xmlns='vcard-temp'><FN>Carol Dupont</FN><NICKNAME>caro</NICKNAME></vCard></iq>"}));
    std::thread::sleep(Duration::from_millis(500));
    let staff = User::register("xvcard");
    let ghost = ghost_of(&carol.jid);
    staff.direct_chat(&ghost);
    assert_eq!(staff.display_name(&ghost).as_deref(), Some("Carol Dupont"));
}

#[test]
fn the_bot_links_a_room_with_a_group_chat_on_command() {
    let _serial = serial();
    let p = Passerelle::start("xmpp-link", &[]);
    p.wait_ready(T);
    let (mut bob, room_jid) = in_group_chat("bob", "bob", "desk");

    let staff = User::register("xlinker");
    let bot = crate::harness::base_config().bot_user_id();
    let room = staff.create_room(&[&bot], false);
    wait_for("the bot to join", T, || {
        staff.members(&room).contains(&bot).then_some(())
    });
    staff.send_text(&room, &format!("!passerelle link xmpp {room_jid}"));
    let answer = wait_for("the bot's answer", T, || {
        staff
            .messages(&room)
            .into_iter()
            .find(|m| m["sender"] == bot.as_str())
    });
    let text = answer["content"]["body"].as_str().unwrap_or_default();
    assert!(text.contains("now linked"), "{text}");
    assert!(staff.members(&room).contains(&ghost_of(&room_jid)));
    bob.wait_event("the bridge's occupant", T, |e| {
        e["event"] == "presence" && e["from"] == format!("{room_jid}/Matrix")
    });
    staff.send_text(&room, "linked by command");
    bob.wait_body("linked by command");
}

/// Logs `user` in and joins a fresh group chat `<prefix><n>@conference…` as `nick`.
fn in_group_chat(user: &str, nick: &str, prefix: &str) -> (XmppUser, String) {
    let host = crate::xmpp_peer::env("PASSERELLE_IT_XMPP_HOST");
    let room_jid = format!("{prefix}{}@conference.{host}", crate::harness::unique());
    let mut member = XmppUser::login(user);
    member.cmd(json!({"cmd": "join", "room": room_jid, "nick": nick}));
    member.wait_event(&format!("{user} in the group chat"), T, |e| {
        e["event"] == "presence" && e["from"] == format!("{room_jid}/{nick}")
    });
    (member, room_jid)
}
