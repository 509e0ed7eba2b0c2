//! XMPP addresses on both sides.
//!
//! - A remote contact is a bare JID, lower-cased (`Alice@Example.org/phone` → `alice@example.org`);
//!   its ghost is `_xmpp_` + the ghost escaping of that string (`@_xmpp_alice=40example.org:…`).
//! - A Matrix user talks from a JID on the component domain whose localpart is the user's
//!   localpart, `=`, and their server name, escaped per XEP-0106 (JID Escaping):
//!   `@alice:example.org` → `alice=example.org@matrix.example.org`,
//!   `@bob:hs.example.org:8448` → `bob=hs.example.org\3a8448@matrix.example.org`.
//!   Server names never contain `=`, so the last `=` separates the two parts and the mapping
//!   reverses exactly.
//! - A direct chat is a conversation between one contact and one Matrix user:
//!   `"<contact bare JID> <Matrix user id>"` (a space is valid in neither).

use tokio_xmpp::jid::Jid;

/// Characters XEP-0106 escapes in a JID localpart, with their escapes.
const ESCAPES: [(char, &str); 10] = [
    ('\\', "\\5c"),
    (' ', "\\20"),
    ('"', "\\22"),
    ('&', "\\26"),
    ('\'', "\\27"),
    ('/', "\\2f"),
    (':', "\\3a"),
    ('<', "\\3c"),
    ('>', "\\3e"),
    ('@', "\\40"),
];

/// XEP-0106 escaping of a JID localpart.
pub(super) fn escape_node(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match ESCAPES.iter().find(|(ch, _)| *ch == c) {
            Some((_, esc)) => out.push_str(esc),
            None => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_node`].
pub(super) fn unescape_node(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '\\' {
            for (ch, esc) in ESCAPES {
                if rest.starts_with(esc) {
                    out.push(ch);
                    rest = &rest[esc.len()..];
                    continue 'outer;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The component JID a Matrix user speaks from.
pub(super) fn user_jid(user_id: &str, component_domain: &str) -> Option<String> {
    let (local, server) = crate::ids::split_user_id(user_id)?;
    Some(format!(
        "{}@{component_domain}",
        escape_node(&format!("{local}={server}"))
    ))
}

/// The Matrix user behind a component JID's localpart.
pub(super) fn user_of_node(node: &str) -> Option<String> {
    let raw = unescape_node(node);
    let (local, server) = raw.rsplit_once('=')?;
    if local.is_empty() || server.is_empty() {
        return None;
    }
    let user_id = format!("@{local}:{server}");
    ruma::UserId::parse(user_id.as_str()).ok()?;
    Some(user_id)
}

/// Canonical contact id: a bare JID with a localpart, lower-cased.
pub(super) fn contact(input: &str) -> Result<String, String> {
    let input = input.trim().trim_start_matches("xmpp:");
    let jid = Jid::new(input)
        .map_err(|e| format!("`{input}` is not a valid JID: {e}"))?
        .to_bare();
    if jid.node().is_none() {
        return Err(format!(
            "`{input}` is a server, not a contact: use name@server"
        ));
    }
    Ok(jid.to_string().to_lowercase())
}

/// The conversation of `contact` with the Matrix user `user_id`.
pub(super) fn conversation(contact: &str, user_id: &str) -> String {
    format!("{contact} {user_id}")
}

/// The conversation of a group chat room.
pub(super) fn muc_conversation(room: &str) -> String {
    format!("muc:{room}")
}

/// The room of a group chat conversation.
pub(super) fn muc_room(conversation: &str) -> Option<&str> {
    conversation.strip_prefix("muc:")
}

/// Splits a conversation into its contact (or room) and Matrix user.
pub(super) fn split_conversation(conversation: &str) -> (&str, Option<&str>) {
    if let Some(room) = muc_room(conversation) {
        return (room, None);
    }
    match conversation.split_once(' ') {
        Some((contact, user)) => (contact, Some(user)),
        None => (conversation, None),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        contact, conversation, escape_node, split_conversation, unescape_node, user_jid,
        user_of_node,
    };

    #[test]
    fn matrix_users_map_to_component_jids_and_back() {
        let cases = [
            ("@alice:example.org", "alice=example.org@matrix.example.org"),
            (
                "@bob:hs.example.org:8448",
                "bob=hs.example.org\\3a8448@matrix.example.org",
            ),
            ("@a=b/c:x.org", "a=b\\2fc=x.org@matrix.example.org"),
            (
                "@_sms_+33612345678:x.org",
                "_sms_+33612345678=x.org@matrix.example.org",
            ),
        ];
        for (user, jid) in cases {
            assert_eq!(
                user_jid(user, "matrix.example.org").as_deref(),
                Some(jid),
                "{user}"
            );
            let node = jid.split('@').next().expect("node");
            assert_eq!(user_of_node(node).as_deref(), Some(user), "{jid}");
        }
        assert_eq!(user_of_node("no-separator"), None);
        assert_eq!(user_of_node("=x.org"), None);
    }

    #[test]
    fn xep_0106_escaping_round_trips() {
        for raw in [
            "a b",
            "d'artagnan",
            "c:\\net",
            "x@y",
            "\\5c",
            "plain",
            "é&<>\"/",
        ] {
            assert_eq!(unescape_node(&escape_node(raw)), raw, "{raw}");
            assert!(!escape_node(raw).contains(['@', '/', ':', ' ', '\'', '"', '&', '<', '>']));
        }
    }

    #[test]
    fn contacts_are_canonical_bare_jids() {
        assert_eq!(
            contact("Alice@Example.org/phone").as_deref(),
            Ok("alice@example.org")
        );
        assert_eq!(
            contact("xmpp:bob@localhost").as_deref(),
            Ok("bob@localhost")
        );
        assert!(contact("example.org").is_err());
        assert!(contact("a@b@c").is_err());
        assert!(contact("").is_err());
        let c = conversation("alice@example.org", "@staff:x.org");
        assert_eq!(
            split_conversation(&c),
            ("alice@example.org", Some("@staff:x.org"))
        );
        assert_eq!(
            split_conversation("alice@example.org"),
            ("alice@example.org", None)
        );
    }
}
