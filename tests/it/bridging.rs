//! Staff talk to a remote contact through a ghost, both ways, through a real Synapse.

use std::time::Duration;

use crate::harness::{Passerelle, User, bodies_from, ghost, serial, wait_for};

const T: Duration = Duration::from_secs(30);

#[test]
fn invite_a_ghost_then_talk_both_ways() {
    let _serial = serial();
    let p = Passerelle::start("bridging", &[]);
    p.wait_ready(T);
    let staff = User::register("staff");
    let alice = ghost("alice");
    let room = staff.create_room(&[&alice], true);

    // The invitation registers the ghost, which joins and gets a display name.
    wait_for("the ghost to join", T, || {
        staff.members(&room).contains(&alice).then_some(())
    });
    assert_eq!(staff.display_name(&alice).as_deref(), Some("alice (test)"));

    // Matrix → remote.
    let event_id = staff.send_text(&room, "Bonjour Alice");
    let sent = wait_for("the message to reach the test network", T, || {
        let sent = p.sent();
        (!sent.is_empty()).then_some(sent)
    });
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["to"], "alice");
    assert_eq!(sent[0]["body"], "Bonjour Alice");
    assert_eq!(sent[0]["event_id"], event_id.as_str());
    assert_eq!(sent[0]["from"], staff.user_id.as_str());

    // Remote → Matrix, into the same room, with the original timestamp.
    p.inject("alice", "Bonjour, merci !", "remote-1");
    let messages = wait_for("the reply in the room", T, || {
        let m = staff.messages(&room);
        bodies_from(&m, &alice)
            .contains(&"Bonjour, merci !".to_owned())
            .then_some(m)
    });
    // The echo connector also answered the first message; neither reply is sent back out.
    assert!(
        bodies_from(&messages, &alice)
            .iter()
            .all(|b| b == "Bonjour, merci !" || b == "echo: Bonjour Alice")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        p.sent().len(),
        1,
        "a ghost's message was bridged back out (echo)"
    );
}

#[test]
fn a_new_remote_contact_opens_a_room_for_the_routed_users() {
    let _serial = serial();
    let staff = User::register("inbox");
    let invite = format!("[\"{}\"]", staff.user_id);
    let p = Passerelle::start(
        "inbound",
        &[("PASSERELLE_CONNECTORS__0__INBOUND__INVITE", &invite)],
    );
    p.wait_ready(T);
    p.inject("carol", "Hello, is anyone there?", "carol-1");
    let room = wait_for("an invitation to a new portal room", T, || {
        staff.invites().into_iter().next()
    });
    staff.join(&room);
    let carol = ghost("carol");
    let messages = wait_for("carol's message", T, || {
        let m = staff.messages(&room);
        (!bodies_from(&m, &carol).is_empty()).then_some(m)
    });
    assert_eq!(bodies_from(&messages, &carol), ["Hello, is anyone there?"]);
    assert_eq!(
        staff.display_name(&carol).as_deref(),
        Some("carol (remote)")
    );

    // The answer goes back to carol.
    staff.send_text(&room, "Yes, how can I help?");
    let sent = wait_for("the answer", T, || {
        let s = p.sent();
        (!s.is_empty()).then_some(s)
    });
    assert_eq!(sent[0]["to"], "carol");
    assert_eq!(sent[0]["body"], "Yes, how can I help?");
}

#[test]
fn a_permanent_send_failure_is_shown_in_the_room() {
    let _serial = serial();
    let p = Passerelle::start("reject", &[]);
    p.wait_ready(T);
    let staff = User::register("rejecter");
    let contact = ghost("reject-bob");
    let room = staff.direct_chat(&contact);
    let event_id = staff.send_text(&room, "This will bounce");
    let notice = wait_for("a failure notice", T, || {
        staff
            .messages(&room)
            .into_iter()
            .find(|m| m["content"]["msgtype"] == "m.notice")
    });
    let body = notice["content"]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains("not delivered") && body.contains("refuses"),
        "{body}"
    );
    assert_eq!(
        notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        event_id.as_str()
    );
    assert!(p.sent().is_empty());
}

#[test]
fn temporary_failures_are_retried_until_delivered() {
    let _serial = serial();
    let p = Passerelle::start("flaky", &[]);
    p.wait_ready(T);
    let staff = User::register("retrier");
    let contact = ghost("flaky-dan");
    let room = staff.direct_chat(&contact);
    staff.send_text(&room, "first");
    staff.send_text(&room, "second");
    let sent = wait_for("both messages, after the retries", T, || {
        let s = p.sent();
        (s.len() == 2).then_some(s)
    });
    assert_eq!(sent[0]["body"], "first");
    assert_eq!(sent[1]["body"], "second");
}

#[test]
fn the_bot_answers_help_in_a_direct_chat() {
    let _serial = serial();
    let p = Passerelle::start("help", &[]);
    p.wait_ready(T);
    let staff = User::register("helper");
    let bot = crate::harness::base_config().bot_user_id();
    let dm = staff.direct_chat(&bot);
    staff.send_text(&dm, "help");
    let answer = wait_for("the help text", T, || {
        staff
            .messages(&dm)
            .into_iter()
            .find(|m| m["sender"] == bot.as_str())
    });
    let text = answer["content"]["body"].as_str().unwrap_or_default();
    assert!(
        text.contains("invite") && text.contains("@_test_alice:"),
        "{text}"
    );
}

#[test]
fn blocked_users_are_not_bridged_and_told_once() {
    let _serial = serial();
    let p = Passerelle::start("blocked", &[]);
    p.wait_ready(T);
    let staff = User::register("host");
    // The base configuration blocks this user by name.
    let outsider = User::register_or_login("blocked");
    let contact = ghost("erin");
    let room = staff.create_room(&[&contact, &outsider.user_id], false);
    wait_for("the ghost to join", T, || {
        staff.members(&room).contains(&contact).then_some(())
    });
    outsider.join(&room);
    outsider.send_text(&room, "one");
    outsider.send_text(&room, "two");
    staff.send_text(&room, "from staff");
    wait_for("the staff message", T, || {
        (p.sent().len() == 1).then_some(())
    });
    let notices: Vec<_> = wait_for("the notice", T, || {
        let n: Vec<_> = staff
            .messages(&room)
            .into_iter()
            .filter(|m| m["content"]["msgtype"] == "m.notice")
            .collect();
        (!n.is_empty()).then_some(n)
    });
    assert_eq!(notices.len(), 1, "told more than once: {notices:?}");
    let body = notices[0]["content"]["body"].as_str().unwrap_or_default();
    assert!(
        body.contains(&outsider.user_id) && body.contains("not allowed"),
        "{body}"
    );
    let sent = p.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["body"], "from staff");
}

#[test]
fn files_typing_and_read_receipts_reach_the_network() {
    let _serial = serial();
    let p = Passerelle::start("media", &[]);
    p.wait_ready(T);
    let staff = User::register("sharer");
    let ivan = ghost("ivan");
    let room = staff.direct_chat(&ivan);

    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let mxc = staff.upload(data, "application/pdf");
    staff.send_file(&room, &mxc, "report.pdf", 3000);
    let sent = wait_for("the file", T, || p.sent().into_iter().next());
    assert_eq!(sent["attachment"]["filename"], "report.pdf");
    assert_eq!(sent["attachment"]["size"], 3000);
    assert_eq!(sent["attachment"]["content_type"], "application/pdf");

    staff.typing(&room, true);
    wait_for("the typing notification", T, || {
        p.signals().into_iter().find(|s| {
            s["kind"] == "typing" && s["to"] == "ivan" && s["from"] == staff.user_id.as_str()
        })
    });

    // The contact's (echo) answer, then staff reads it: the network hears of it.
    let echo = wait_for("the echo", T, || {
        staff
            .messages(&room)
            .into_iter()
            .find(|m| m["sender"] == ivan.as_str())
    });
    staff.read(&room, echo["event_id"].as_str().expect("event id"));
    let read = wait_for("the read receipt", T, || {
        p.signals().into_iter().find(|s| s["kind"] == "read")
    });
    assert_eq!(read["to"], "ivan");
    assert_eq!(read["message"], format!("echo-{}", sent["key"]));
}

#[test]
fn a_shared_inbox_room_hears_of_new_conversations_and_its_members_are_invited() {
    let _serial = serial();
    let staff = User::register("desk");
    let colleague = User::register("desk2");
    let bot = crate::harness::base_config().bot_user_id();
    let alias_name = format!(
        "inbox{}",
        crate::harness::unique() + u64::from(std::process::id()) * 1000
    );
    let inbox = staff.create_room_with_alias(&alias_name, &[&bot, &colleague.user_id]);
    colleague.join(&inbox);
    let alias = format!(
        "#{alias_name}:{}",
        crate::harness::base_config().homeserver.server_name
    );
    let p = Passerelle::start(
        "shared-inbox",
        &[("PASSERELLE_CONNECTORS__0__INBOUND__ROOM", &alias)],
    );
    p.wait_ready(T);
    wait_for("the bot to join the inbox", T, || {
        staff.members(&inbox).contains(&bot).then_some(())
    });
    p.inject("judy", "Bonjour, j'ai une question", "judy-1");
    let announcement = wait_for("the announcement in the inbox", T, || {
        staff
            .messages(&inbox)
            .into_iter()
            .find(|m| m["sender"] == bot.as_str())
    });
    let text = announcement["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        text.contains("judy") && text.contains("matrix.to"),
        "{text}"
    );
    // Both members of the inbox are invited to the new portal room, and can read judy.
    let room = wait_for("the invitation", T, || {
        colleague.invites().into_iter().next()
    });
    assert!(
        text.contains(&room),
        "the announcement does not link the portal: {text}"
    );
    assert!(staff.invites().contains(&room));
    colleague.join(&room);
    let judy = ghost("judy");
    wait_for("judy's message", T, || {
        bodies_from(&colleague.messages(&room), &judy)
            .contains(&"Bonjour, j'ai une question".to_owned())
            .then_some(())
    });
}

#[test]
fn the_portal_follows_a_room_upgrade_but_not_a_forged_tombstone() {
    let _serial = serial();
    let p = Passerelle::start("upgrade", &[]);
    p.wait_ready(T);
    let staff = User::register("upgrader");
    let kim = ghost("kim");
    let room = staff.create_public_room(&[&kim]);
    wait_for("the ghost to join", T, || {
        staff.members(&room).contains(&kim).then_some(())
    });

    // A tombstone pointing at an unrelated room is ignored.
    let decoy = staff.create_public_room(&[]);
    let forged = serde_json::json!({"events": [{
        "type": "m.room.tombstone", "state_key": "", "room_id": room, "sender": staff.user_id,
        "event_id": "$forged-tombstone:test", "origin_server_ts": 1,
        "content": {"body": "moved", "replacement_room": decoy}
    }]});
    assert_eq!(p.put_transaction("forged-tombstone", &forged).status(), 200);
    staff.send_text(&room, "still here");
    wait_for("the message from the old room", T, || {
        p.sent()
            .iter()
            .any(|s| s["body"] == "still here")
            .then_some(())
    });

    // A real upgrade moves the portal.
    let new_room = staff.upgrade(&room);
    wait_for("the ghost in the new room", T, || {
        staff.members(&new_room).contains(&kim).then_some(())
    });
    staff.send_text(&new_room, "after the upgrade");
    wait_for("the message from the new room", T, || {
        p.sent()
            .iter()
            .any(|s| s["body"] == "after the upgrade")
            .then_some(())
    });
    p.inject("kim", "reply lands in the new room", "kim-1");
    wait_for("the reply in the new room", T, || {
        bodies_from(&staff.messages(&new_room), &kim)
            .contains(&"reply lands in the new room".to_owned())
            .then_some(())
    });
}
