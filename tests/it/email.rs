//! Email through a real dovecot (IMAP with IDLE, LMTP delivery) and a real SMTP server, with
//! correspondents using smtplib/imaplib, and a real Synapse.

use std::{path::PathBuf, time::Duration};

use serde_json::{Value, json};

use crate::{
    harness::{Passerelle, PeerBack, User, bodies_from, peer_script, serial, unique, wait_for},
    mail_peer::{as_refs, email_ghost, fetch, header, mailbox_env, send_mail},
    xmpp_peer::env,
};

const T: Duration = Duration::from_secs(45);

/// A plain UTF-8 mail.
fn mail(from: &str, to: &str, subject: &str, id: &str, extra: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{id}>\n\
Date: Mon, 3 Mar 2025 10:00:00 +0100\nMIME-Version: 1.0\n{extra}\
Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n"
    )
}

fn fresh_id(tag: &str) -> String {
    format!("{tag}.{}.{}@localhost", std::process::id(), unique())
}

/// The first room event of `sender` satisfying `pred`.
fn event_from(staff: &User, room: &str, sender: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_for(&format!("an event from {sender}"), T, || {
        staff
            .events(room)
            .into_iter()
            .find(|e| e["sender"] == sender && e["type"] == "m.room.message" && pred(e))
    })
}

/// The mail in `user`'s INBOX whose raw text contains `needle`.
fn mail_with(user: &str, needle: &str) -> Value {
    wait_for(&format!("a mail with {needle:?} for {user}"), T, || {
        fetch(user, "INBOX")
            .into_iter()
            .find(|m| m["raw"].as_str().is_some_and(|r| r.contains(needle)))
    })
}

/// Waits until passerelle's mailbox has flagged the mail `id` as seen.
fn wait_seen(mailbox: &str, id: &str) {
    wait_for(&format!("{id} flagged \\Seen in {mailbox}"), T, || {
        fetch(mailbox, "INBOX").into_iter().find(|m| {
            let raw = m["raw"].as_str().unwrap_or("");
            header(raw, "Message-ID").as_deref() == Some(&format!("<{id}>"))
                && m["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f == "\\Seen"))
        })
    });
}

/// The key of an email connector setting in passerelle's environment.
fn email_key(key: &str) -> String {
    crate::harness::connector_key("email", key)
}

/// A new staff member, and passerelle started (and ready) on mailbox `bridge<n>`, which
/// invites them to the rooms of new mail; `extra` adds environment overrides.
fn mailbox_bridge(
    prefix: &str,
    n: u32,
    name: &str,
    extra: &[(String, String)],
) -> (User, Passerelle) {
    let staff = User::register(prefix);
    let mut overrides = mailbox_env(n, &staff.user_id);
    overrides.extend_from_slice(extra);
    let p = Passerelle::start(name, &as_refs(&overrides));
    p.wait_ready(T);
    (staff, p)
}

#[test]
fn a_mail_opens_a_room_and_replies_thread_both_ways() {
    let _serial = serial();
    let (staff, _p) = mailbox_bridge("mstaff", 1, "email-thread", &[]);

    // A citizen writes to the organisation's address.
    let id = fresh_id("first");
    send_mail(
        "alice@localhost",
        &["bridge1@localhost"],
        &mail(
            "Alice Martin <alice@localhost>",
            "bridge1@localhost",
            "Demande de rendez-vous",
            &id,
            "",
            "Bonjour,\nje voudrais un rendez-vous.",
        ),
    );
    let room = wait_for("an invitation to the new room", T, || {
        staff.invites().into_iter().next()
    });
    staff.join(&room);
    let ghost = email_ghost("alice@localhost");
    let root = event_from(&staff, &room, &ghost, |_| true);
    assert_eq!(
        root["content"]["body"],
        "Demande de rendez-vous\n\nBonjour,\nje voudrais un rendez-vous."
    );
    let formatted = root["content"]["formatted_body"].as_str().unwrap_or("");
    assert!(
        formatted.starts_with("<p><strong>Demande de rendez-vous</strong></p>"),
        "{formatted}"
    );
    assert_eq!(staff.display_name(&ghost).as_deref(), Some("Alice Martin"));
    // Matrix has it: the mail is marked as read in the mailbox.
    wait_seen("bridge1", &id);

    // The staff member answers in the mail's thread.
    let root_id = root["event_id"].as_str().expect("event id");
    staff.send_event(
        &room,
        "m.room.message",
        &json!({"msgtype": "m.text", "body": "Bien reçu, mardi 10h ?",
                "m.relates_to": {"rel_type": "m.thread", "event_id": root_id,
                                 "is_falling_back": true,
                                 "m.in_reply_to": {"event_id": root_id}}}),
    );
    let reply = mail_with("alice", "Bien re");
    let raw = reply["raw"].as_str().unwrap_or("");
    assert_eq!(header(raw, "In-Reply-To"), Some(format!("<{id}>")), "{raw}");
    assert_eq!(header(raw, "References"), Some(format!("<{id}>")), "{raw}");
    assert_eq!(
        header(raw, "Subject").as_deref(),
        Some("Re: Demande de rendez-vous")
    );
    let from = header(raw, "From").unwrap_or_default();
    assert!(from.ends_with("<bridge1@localhost>"), "{from}");
    let sent_id = header(raw, "Message-ID").expect("Message-ID");
    assert!(sent_id.starts_with("<passerelle."), "{sent_id}");

    // Alice answers the mail; the answer lands in the same Matrix thread, quote cut.
    send_mail(
        "alice@localhost",
        &["bridge1@localhost"],
        &mail(
            "Alice Martin <alice@localhost>",
            "bridge1@localhost",
            "Re: Demande de rendez-vous",
            &fresh_id("answer"),
            &format!("In-Reply-To: {sent_id}\nReferences: <{id}> {sent_id}\n"),
            "Parfait, à mardi.\n\nLe lun. 3 mars 2025, Mairie a écrit :\n> Bien reçu, mardi 10h ?",
        ),
    );
    let answer = event_from(&staff, &room, &ghost, |e| {
        e["content"]["body"] == "Parfait, à mardi."
    });
    assert_eq!(answer["content"]["m.relates_to"]["rel_type"], "m.thread");
    assert_eq!(answer["content"]["m.relates_to"]["event_id"], root_id);
}

#[test]
fn html_and_attachments_cross_both_ways() {
    let _serial = serial();
    let (staff, _p) = mailbox_bridge("mhtml", 2, "email-html", &[]);
    let ghost = email_ghost("bob@localhost");
    let room = staff.direct_chat(&ghost);

    // A new top-level message starts a mail thread named after its first line.
    staff.send_event(
        &room,
        "m.room.message",
        &json!({"msgtype": "m.text", "body": "Bonjour Bob\nVoici le dossier.",
                "format": "org.matrix.custom.html",
                "formatted_body": "<b>Bonjour</b> Bob<br>Voici le dossier."}),
    );
    let sent = mail_with("bob", "Voici le dossier");
    let raw = sent["raw"].as_str().unwrap_or("");
    assert_eq!(header(raw, "Subject").as_deref(), Some("Bonjour Bob"));
    assert_eq!(header(raw, "To").as_deref(), Some("bob@localhost"));
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("a mail");
    assert_eq!(
        parsed.body_text(0).as_deref(),
        Some("Bonjour Bob\r\nVoici le dossier.")
    );
    let html = parsed.body_html(0).expect("an HTML part");
    assert!(html.contains("<b>Bonjour</b> Bob"), "{html}");

    // A Matrix file becomes an attachment.
    let mxc = staff.upload(b"%PDF-1.4 dossier".to_vec(), "application/pdf");
    staff.send_file(&room, &mxc, "dossier.pdf", 16);
    let with_file = mail_with("bob", "dossier.pdf");
    let raw = with_file["raw"].as_str().unwrap_or("");
    assert!(raw.contains("Content-Disposition: attachment"), "{raw}");
    assert!(raw.contains("%PDF-1.4 dossier"), "{raw}");

    // Bob answers with HTML and a picture.
    let id = fresh_id("photo");
    send_mail(
        "bob@localhost",
        &["bridge2@localhost"],
        &format!(
            "From: Bob <bob@localhost>\nTo: bridge2@localhost\nSubject: La photo\n\
Message-ID: <{id}>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n\
--outer\nContent-Type: multipart/alternative; boundary=inner\n\n\
--inner\nContent-Type: text/plain; charset=utf-8\n\nVoici la photo\n\
--inner\nContent-Type: text/html; charset=utf-8\n\n<p>Voici <i>la photo</i><script>x()</script></p>\n\
--inner--\n--outer\nContent-Type: image/png; name=\"photo.png\"\n\
Content-Disposition: attachment; filename=\"photo.png\"\nContent-Transfer-Encoding: base64\n\n\
iVBORw0KGgo=\n--outer--\n"
        ),
    );
    let text = event_from(&staff, &room, &ghost, |e| {
        e["content"]["msgtype"] == "m.text"
    });
    let formatted = text["content"]["formatted_body"].as_str().unwrap_or("");
    assert!(formatted.contains("<i>la photo</i>"), "{formatted}");
    assert!(!formatted.contains("script"), "{formatted}");
    let image = event_from(&staff, &room, &ghost, |e| {
        e["content"]["msgtype"] == "m.image"
    });
    assert_eq!(image["content"]["body"], "photo.png");
    assert_eq!(image["content"]["info"]["mimetype"], "image/png");
    assert_eq!(image["content"]["info"]["size"], 8);
}

#[test]
fn a_bounce_is_a_notice_on_the_bounced_message() {
    let _serial = serial();
    let (staff, _p) = mailbox_bridge("mbounce", 3, "email-bounce", &[]);
    let ghost = email_ghost("nobody@localhost");
    let room = staff.direct_chat(&ghost);
    let event = staff.send_text(&room, "Votre dossier est complet.");

    // The SMTP server accepted it (it keeps a copy of everything it is given).
    let sink = PathBuf::from(env("PEERS_DIR")).join("mail/sink");
    let original = wait_for("the mail at the SMTP server", T, || {
        ["new", "cur"].iter().find_map(|d| {
            std::fs::read_dir(sink.join(d)).ok()?.find_map(|f| {
                let text = std::fs::read_to_string(f.ok()?.path()).ok()?;
                (text.contains("Votre dossier est complet") && text.contains("nobody@localhost"))
                    .then(|| header(&text.replace('\n', "\r\n"), "Message-ID"))
                    .flatten()
            })
        })
    });
    // The recipient's server refuses it later: the delivery report (RFC 3464), written here
    // as Postfix writes one, comes back to the organisation's mailbox.
    let report = format!(
        "From: MAIL DELIVERY SYSTEM <MAILER-DAEMON@localhost>\nTo: bridge3@localhost\n\
Subject: Undelivered Mail Returned to Sender\nMessage-ID: <{}>\nAuto-Submitted: auto-replied\n\
MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\n\n\
--R\nContent-Type: text/plain\n\nYour message could not be delivered.\n\
--R\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; localhost\n\n\
Final-Recipient: rfc822; nobody@localhost\nAction: failed\nStatus: 5.1.1\n\
Diagnostic-Code: smtp; 550 5.1.1 <nobody@localhost>: User unknown\n\n\
--R\nContent-Type: text/rfc822-headers\n\nFrom: bridge3@localhost\nMessage-ID: {original}\n\
Subject: Votre dossier\n\n--R--\n",
        fresh_id("bounce")
    );
    send_mail("MAILER-DAEMON@localhost", &["bridge3@localhost"], &report);
    let notice = wait_for("the failure notice", T, || {
        staff.messages(&room).into_iter().find(|m| {
            m["content"]["msgtype"] == "m.notice"
                && m["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("nobody@localhost") && b.contains("User unknown"))
        })
    });
    assert_eq!(
        notice["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        event.as_str()
    );
}

#[test]
fn killed_after_fetching_and_before_posting_the_mail_still_arrives_once() {
    let _serial = serial();
    let (staff, mut p) = mailbox_bridge("mkill", 4, "email-kill", &[]);

    // Matrix is away: the mail is fetched and stored, but cannot be posted.
    peer_script("stop-peers.sh", &["synapse"], &[]);
    let guard = PeerBack("restart-synapse.sh");
    let id = fresh_id("kill");
    send_mail(
        "carol@localhost",
        &["bridge4@localhost"],
        &mail(
            "carol@localhost",
            "bridge4@localhost",
            "Urgent",
            &id,
            "",
            "Une seule fois",
        ),
    );
    wait_for("the mail to be fetched", T, || {
        p.log()
            .contains("Mail handed over to the runtime.")
            .then_some(())
    });
    // Not marked while Matrix does not have it.
    let unread = fetch("bridge4", "INBOX");
    assert!(
        unread.iter().all(|m| !m["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "\\Seen"))),
        "marked before Matrix had it: {unread:?}"
    );
    p.kill9();
    drop(guard);
    p.restart();
    p.wait_ready(T);

    let room = wait_for("an invitation", T, || staff.invites().into_iter().next());
    staff.join(&room);
    let ghost = email_ghost("carol@localhost");
    event_from(&staff, &room, &ghost, |_| true);
    wait_seen("bridge4", &id);
    // Give a duplicate every chance to show up.
    std::thread::sleep(Duration::from_secs(3));
    let copies = bodies_from(&staff.messages(&room), &ghost)
        .into_iter()
        .filter(|b| b.contains("Une seule fois"))
        .count();
    assert_eq!(copies, 1);
}

#[test]
fn an_imap_server_restart_loses_nothing() {
    let _serial = serial();
    let (staff, p) = mailbox_bridge("mimap", 5, "email-imap-restart", &[]);
    let send = |text: &str| {
        send_mail(
            "carol@localhost",
            &["bridge5@localhost"],
            &mail(
                "carol@localhost",
                "bridge5@localhost",
                text,
                &fresh_id("r"),
                "",
                text,
            ),
        );
    };
    send("avant");
    let room = wait_for("an invitation", T, || staff.invites().into_iter().next());
    staff.join(&room);
    let ghost = email_ghost("carol@localhost");
    event_from(&staff, &room, &ghost, |_| true);

    send("juste avant le redémarrage");
    peer_script("restart-mail.sh", &[], &[]);
    send("après le redémarrage");
    wait_for("passerelle to reconnect to the mailbox", T, || {
        (p.log().matches("Connected to the mailbox.").count() >= 2).then_some(())
    });
    for text in [
        "avant",
        "juste avant le redémarrage",
        "après le redémarrage",
    ] {
        wait_for(&format!("{text:?} in the room"), T, || {
            bodies_from(&staff.messages(&room), &ghost)
                .iter()
                .any(|b| b.starts_with(text))
                .then_some(())
        });
    }
    std::thread::sleep(Duration::from_secs(2));
    let bodies = bodies_from(&staff.messages(&room), &ghost);
    assert_eq!(bodies.len(), 3, "{bodies:?}");
}

#[test]
fn a_mail_to_several_people_is_a_group_room_and_bridged_mail_is_moved() {
    let _serial = serial();
    let (staff, _p) = mailbox_bridge(
        "mgroup",
        6,
        "email-group",
        &[(email_key("IMAP__AFTER_BRIDGING"), "move".into())],
    );

    // Clients find a correspondent's ghost from an address.
    let found = staff.get_json("/_matrix/client/v3/thirdparty/user/email?address=Bob@Localhost");
    assert_eq!(
        found[0]["userid"],
        email_ghost("bob@localhost").as_str(),
        "{found}"
    );

    let id = fresh_id("group");
    send_mail(
        "alice@localhost",
        &["bridge6@localhost"],
        &mail(
            "Alice <alice@localhost>",
            "bridge6@localhost",
            "Réunion de quartier",
            &id,
            "Cc: Bob <bob@localhost>\n",
            "Qui vient jeudi ?",
        ),
    );
    let room = wait_for("an invitation", T, || staff.invites().into_iter().next());
    staff.join(&room);
    let (alice, bob) = (email_ghost("alice@localhost"), email_ghost("bob@localhost"));
    let root = event_from(&staff, &room, &alice, |_| true);
    wait_for("both correspondents' ghosts in the room", T, || {
        let members = staff.members(&room);
        (members.contains(&alice) && members.contains(&bob)).then_some(())
    });
    // Matrix has it: the mail moved to the processed folder.
    wait_for("the mail in the Bridged folder", T, || {
        fetch("bridge6", "Bridged").into_iter().find(|m| {
            header(m["raw"].as_str().unwrap_or(""), "Message-ID").as_deref()
                == Some(&format!("<{id}>"))
        })
    });
    assert!(fetch("bridge6", "INBOX").is_empty());

    // A reply reaches every correspondent.
    let root_id = root["event_id"].as_str().expect("event id");
    staff.send_event(
        &room,
        "m.room.message",
        &json!({"msgtype": "m.text", "body": "Moi, je viens.",
                "m.relates_to": {"rel_type": "m.thread", "event_id": root_id,
                                 "is_falling_back": true,
                                 "m.in_reply_to": {"event_id": root_id}}}),
    );
    for user in ["alice", "bob"] {
        let got = mail_with(user, "Moi, je viens.");
        let to = header(got["raw"].as_str().unwrap_or(""), "To").unwrap_or_default();
        assert!(
            to.contains("alice@localhost") && to.contains("bob@localhost"),
            "{to}"
        );
    }
}

#[test]
fn broken_and_oversized_mail_does_not_stall_the_mailbox() {
    let _serial = serial();
    let (staff, _p) = mailbox_bridge(
        "mhostile",
        7,
        "email-hostile",
        &[(email_key("MAX_MESSAGE_SIZE"), "4 KiB".into())],
    );

    // Broken MIME: an unterminated boundary, invalid base64, an unknown charset.
    send_mail(
        "carol@localhost",
        &["bridge7@localhost"],
        &format!(
            "From: carol@localhost\nTo: bridge7@localhost\nSubject: =?x-unknown?Q?cass=E9?=\n\
Message-ID: <{}>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"never-closed\"\n\n\
--never-closed\nContent-Type: text/plain; charset=x-unknown\nContent-Transfer-Encoding: base64\n\n\
!!!not base64!!!\n--never-closed\nContent-Type: multipart/alternative; boundary=\n\n",
            fresh_id("broken")
        ),
    );
    // Too big to fetch.
    send_mail(
        "carol@localhost",
        &["bridge7@localhost"],
        &mail(
            "carol@localhost",
            "bridge7@localhost",
            "Gros fichier",
            &fresh_id("big"),
            "",
            &format!("{}\n", "x".repeat(70)).repeat(120),
        ),
    );
    send_mail(
        "carol@localhost",
        &["bridge7@localhost"],
        &mail(
            "carol@localhost",
            "bridge7@localhost",
            "Normal",
            &fresh_id("fine"),
            "",
            "Tout va bien",
        ),
    );
    let room = wait_for("an invitation", T, || staff.invites().into_iter().next());
    staff.join(&room);
    let ghost = email_ghost("carol@localhost");
    event_from(&staff, &room, &ghost, |e| {
        e["content"]["body"]
            .as_str()
            .is_some_and(|b| b.ends_with("Tout va bien"))
    });
    let notice = event_from(&staff, &room, &ghost, |e| {
        e["content"]["msgtype"] == "m.notice"
    });
    let text = notice["content"]["body"].as_str().unwrap_or("");
    assert!(
        text.contains("Gros fichier") && text.contains("max_message_size"),
        "{text}"
    );
    // The oversized mail stays unread in the mailbox for a person to handle.
    let left = fetch("bridge7", "INBOX");
    let big = left
        .iter()
        .find(|m| {
            m["raw"]
                .as_str()
                .is_some_and(|r| r.contains("Gros fichier"))
        })
        .expect("the big mail is still there");
    assert!(
        !big["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "\\Seen")),
        "{big}"
    );
}

/// A mail from alice to `bridge<n>` arrives in a room, and the staff member's answer reaches her.
fn round_trip(n: u32, staff: &User, tag: &str) {
    let id = fresh_id(tag);
    send_mail(
        "alice@localhost",
        &[&format!("bridge{n}@localhost")],
        &mail(
            "alice@localhost",
            &format!("bridge{n}@localhost"),
            tag,
            &id,
            "",
            &format!("over {tag}"),
        ),
    );
    let room = wait_for("an invitation", T, || staff.invites().into_iter().next());
    staff.join(&room);
    let ghost = email_ghost("alice@localhost");
    event_from(staff, &room, &ghost, |_| true);
    let answer = format!("answer over {tag}");
    staff.send_text(&room, &answer);
    mail_with("alice", &answer);
}

#[test]
fn tls_and_starttls_with_a_verified_certificate() {
    let _serial = serial();
    let ca = PathBuf::from(env("PEERS_DIR")).join("mail/tls/ca.pem");
    let ca = ca.display().to_string();
    let key = email_key;

    // IMAP with STARTTLS, SMTP over implicit TLS.
    let (staff, p) = mailbox_bridge(
        "mtls",
        8,
        "email-starttls",
        &[
            ("SSL_CERT_FILE".to_owned(), ca.clone()),
            (key("IMAP__SECURITY"), "starttls".to_owned()),
            (key("SMTP__SECURITY"), "tls".to_owned()),
            (key("SMTP__PORT"), env("MAIL_SMTPS_PORT")),
        ],
    );
    round_trip(8, &staff, "imap-starttls-smtps");
    drop(p);

    // IMAP over implicit TLS, SMTP with STARTTLS.
    let (staff, p) = mailbox_bridge(
        "mtls",
        9,
        "email-tls",
        &[
            ("SSL_CERT_FILE".to_owned(), ca),
            (key("IMAP__SECURITY"), "tls".to_owned()),
            (key("IMAP__PORT"), env("MAIL_IMAPS_PORT")),
            (key("SMTP__SECURITY"), "starttls".to_owned()),
        ],
    );
    round_trip(9, &staff, "imaps-starttls");
    drop(p);

    // A certificate nobody vouches for is refused.
    let staff = User::register("mtls");
    let mut overrides = mailbox_env(9, &staff.user_id);
    overrides.extend([
        (key("IMAP__SECURITY"), "tls".to_owned()),
        (key("IMAP__PORT"), env("MAIL_IMAPS_PORT")),
    ]);
    let p = Passerelle::start("email-untrusted", &as_refs(&overrides));
    wait_for("the TLS failure in the log", T, || {
        p.log().contains("TLS handshake failed").then_some(())
    });
    assert!(!p.log().contains("Connected to the mailbox."));
}
