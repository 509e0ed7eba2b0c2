//! Building outgoing stanzas and reading incoming ones (sans I/O).

use tokio_xmpp::{
    jid::Jid,
    minidom::{Element, rxml::NcName},
    parsers::message::{Id, Lang, Message, MessageType},
};

/// XEP-0359 unique and stable stanza ids.
pub(super) const NS_SID: &str = "urn:xmpp:sid:0";
/// XEP-0333 chat markers.
pub(super) const NS_MARKERS: &str = "urn:xmpp:chat-markers:0";
/// XEP-0184 message delivery receipts.
pub(super) const NS_RECEIPTS: &str = "urn:xmpp:receipts";
/// XEP-0172 user nickname.
pub(super) const NS_NICK: &str = "http://jabber.org/protocol/nick";

/// Builds an element with attributes; attribute names are constants of this module.
pub(super) fn element(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut builder = Element::builder(name, ns);
    for (key, value) in attrs {
        if let Ok(key) = NcName::try_from(*key) {
            builder = builder.attr(key, *value);
        }
    }
    builder.build()
}

/// Removes characters XML 1.0 forbids (controls other than tab, line feed and carriage return,
/// surrogates are impossible in Rust strings, U+FFFE and U+FFFF): a server closes the stream
/// on them.
pub(super) fn xml_safe(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

/// A one-to-one chat message with a stable id, asking for receipts and markers.
pub(super) fn chat(from: Jid, to: Jid, id: &str, body: &str) -> Message {
    let mut message = Message::chat(Some(to)).with_body(Lang::default(), xml_safe(body));
    message.from = Some(from);
    message.id = Some(Id(id.to_owned()));
    message
        .payloads
        .push(element("origin-id", NS_SID, &[("id", id)]));
    message.payloads.push(element("markable", NS_MARKERS, &[]));
    message.payloads.push(element("request", NS_RECEIPTS, &[]));
    message
}

/// What passerelle reads from an incoming message stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Received {
    /// The id to deduplicate and refer to it by: origin-id, else the stanza id.
    pub(super) id: Option<String>,
    /// Text body, if any.
    pub(super) body: Option<String>,
    /// The sender's nickname (XEP-0172), if given.
    pub(super) nick: Option<String>,
}

/// Reads the parts of an incoming chat message passerelle bridges.
pub(super) fn read(message: &Message) -> Received {
    let origin_id = message
        .payloads
        .iter()
        .find(|p| p.is("origin-id", NS_SID))
        .and_then(|p| p.attr("id"))
        .map(str::to_owned);
    let id = origin_id.or_else(|| message.id.as_ref().map(|i| i.0.clone()));
    let body = message.get_best_body_cloned(vec![]).map(|(_, b)| b);
    let nick = message
        .payloads
        .iter()
        .find(|p| p.is("nick", NS_NICK))
        .map(Element::text);
    Received { id, body, nick }
}

/// True for message types passerelle bridges one-to-one.
pub(super) fn is_chat(message: &Message) -> bool {
    matches!(message.type_, MessageType::Chat | MessageType::Normal)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use tokio_xmpp::{jid::Jid, minidom::Element, parsers::message::Message};

    use super::{chat, read, xml_safe};

    #[test]
    fn illegal_xml_characters_are_removed() {
        assert_eq!(xml_safe("a\u{0}b\u{1}c\td\ne\u{FFFE}f😀"), "abc\td\nef😀");
    }

    #[test]
    fn outgoing_chats_carry_a_stable_id_and_ask_for_receipts() {
        let m = chat(
            Jid::from_str("alice=x.org@matrix.x.org").expect("jid"),
            Jid::from_str("bob@example.org").expect("jid"),
            "passerelle-7",
            "hi\u{0}",
        );
        let xml = String::from(&Element::from(m));
        assert!(xml.contains("id='passerelle-7'"), "{xml}");
        assert!(
            xml.contains("<origin-id xmlns='urn:xmpp:sid:0' id='passerelle-7'/>"),
            "{xml}"
        );
        assert!(xml.contains("<body>hi</body>"), "{xml}");
        assert!(
            xml.contains("urn:xmpp:receipts") && xml.contains("urn:xmpp:chat-markers:0"),
            "{xml}"
        );
    }

    #[test]
    fn incoming_ids_prefer_the_origin_id() {
        let xml = "<message xmlns='jabber:component:accept' from='bob@example.org/phone' to='a=x.org@m.x.org' id='s1' type='chat'>\
                   <body>hello</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>\
                   <nick xmlns='http://jabber.org/protocol/nick'>Bob</nick></message>";
        let element: Element = xml.parse().expect("xml");
        let message = Message::try_from(element).expect("message");
        let r = read(&message);
        assert_eq!(r.id.as_deref(), Some("o1"));
        assert_eq!(r.body.as_deref(), Some("hello"));
        assert_eq!(r.nick.as_deref(), Some("Bob"));
    }
}
