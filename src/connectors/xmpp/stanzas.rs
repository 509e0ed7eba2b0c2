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
/// XEP-0308 last message correction.
pub(super) const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
/// XEP-0444 reactions.
pub(super) const NS_REACTIONS: &str = "urn:xmpp:reactions:0";
/// XEP-0424 message retraction.
pub(super) const NS_RETRACT: &str = "urn:xmpp:message-retract:1";
/// XEP-0461 message replies.
pub(super) const NS_REPLY: &str = "urn:xmpp:reply:0";
/// XEP-0428 fallback indication.
pub(super) const NS_FALLBACK: &str = "urn:xmpp:fallback:0";
/// XEP-0085 chat states.
pub(super) const NS_CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
/// XEP-0071 XHTML-IM wrapper.
pub(super) const NS_XHTML_IM: &str = "http://jabber.org/protocol/xhtml-im";
/// The XHTML namespace of an XHTML-IM body.
pub(super) const NS_XHTML: &str = "http://www.w3.org/1999/xhtml";
/// XEP-0066 out-of-band data.
pub(super) const NS_OOB: &str = "jabber:x:oob";
/// XEP-0334 message processing hints.
pub(super) const NS_HINTS: &str = "urn:xmpp:hints";

/// Text shown by clients that do not understand a retraction.
const RETRACT_FALLBACK: &str =
    "This person attempted to retract a previous message, but it's unsupported by your client.";

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

/// A message without a body of its own: a reaction, retraction, chat state or marker.
fn bare(from: Jid, to: Jid, id: &str) -> Message {
    let mut message = Message::chat(Some(to));
    message.from = Some(from);
    message.id = Some(Id(id.to_owned()));
    message
}

/// A correction (XEP-0308) of the message `target` sent earlier.
pub(super) fn correction(from: Jid, to: Jid, id: &str, target: &str, body: &str) -> Message {
    let mut message = chat(from, to, id, body);
    message
        .payloads
        .push(element("replace", NS_CORRECT, &[("id", target)]));
    message
}

/// The sender's full reaction set (XEP-0444) on `target`.
pub(super) fn reactions(from: Jid, to: Jid, id: &str, target: &str, keys: &[String]) -> Message {
    let mut message = bare(from, to, id);
    let mut set = element("reactions", NS_REACTIONS, &[("id", target)]);
    for key in keys {
        let mut reaction = element("reaction", NS_REACTIONS, &[]);
        reaction.append_text(xml_safe(key));
        set.append_child(reaction);
    }
    message.payloads.push(set);
    message.payloads.push(element("store", NS_HINTS, &[]));
    message
}

/// A retraction (XEP-0424) of `target`, with the fallback text older clients show.
pub(super) fn retraction(from: Jid, to: Jid, id: &str, target: &str) -> Message {
    let mut message = bare(from, to, id).with_body(Lang::default(), RETRACT_FALLBACK.to_owned());
    message
        .payloads
        .push(element("retract", NS_RETRACT, &[("id", target)]));
    message
        .payloads
        .push(element("fallback", NS_FALLBACK, &[("for", NS_RETRACT)]));
    message.payloads.push(element("store", NS_HINTS, &[]));
    message
}

/// A chat state (XEP-0085), e.g. `composing` or `active`.
pub(super) fn chat_state(from: Jid, to: Jid, id: &str, state: &str) -> Message {
    let mut message = bare(from, to, id);
    message.payloads.push(element(state, NS_CHATSTATES, &[]));
    message.payloads.push(element("no-store", NS_HINTS, &[]));
    message
}

/// A displayed marker (XEP-0333) up to `target`.
pub(super) fn displayed(from: Jid, to: Jid, id: &str, target: &str) -> Message {
    let mut message = bare(from, to, id);
    message
        .payloads
        .push(element("displayed", NS_MARKERS, &[("id", target)]));
    message
}

/// An out-of-band data element (XEP-0066) for `url`, described by `caption` if any.
pub(super) fn oob(url: &str, caption: &str) -> Element {
    let mut x = element("x", NS_OOB, &[]);
    let mut u = element("url", NS_OOB, &[]);
    u.append_text(xml_safe(url));
    x.append_child(u);
    if !caption.is_empty() {
        let mut desc = element("desc", NS_OOB, &[]);
        desc.append_text(xml_safe(caption));
        x.append_child(desc);
    }
    x
}

/// Marks `message` as a reply (XEP-0461) to `target`, written by `author`; if the body starts
/// with a quote of `quoted_chars` characters, marks it as the reply's fallback (XEP-0428).
pub(super) fn add_reply(
    message: &mut Message,
    author: &str,
    target: &str,
    quoted_chars: Option<usize>,
) {
    message.payloads.push(element(
        "reply",
        NS_REPLY,
        &[("to", author), ("id", target)],
    ));
    if let Some(end) = quoted_chars {
        let mut fallback = element("fallback", NS_FALLBACK, &[("for", NS_REPLY)]);
        fallback.append_child(element(
            "body",
            NS_FALLBACK,
            &[("start", "0"), ("end", &end.to_string())],
        ));
        message.payloads.push(fallback);
    }
}

/// The body of a reply with its quote: `> quote` then the text; and the quote's length in
/// characters, for the fallback marker.
pub(super) fn quoted(quote: &str, body: &str) -> (String, usize) {
    let prefix = format!("> {}\n", quote.replace('\n', " "));
    let len = prefix.chars().count();
    (format!("{prefix}{body}"), len)
}

/// What passerelle reads from an incoming message stanza.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Received {
    /// The id to deduplicate and refer to it by: origin-id, else the stanza id.
    pub(super) id: Option<String>,
    /// Text body without reply fallback, if any.
    pub(super) body: Option<String>,
    /// The sender's nickname (XEP-0172), if given.
    pub(super) nick: Option<String>,
    /// XEP-0308: id of the corrected message.
    pub(super) replace_id: Option<String>,
    /// XEP-0444: id of the message reacted to, and the full reaction set.
    pub(super) reactions: Option<(String, Vec<String>)>,
    /// XEP-0424: id of the retracted message.
    pub(super) retract_id: Option<String>,
    /// XEP-0461: id of the message replied to.
    pub(super) reply_id: Option<String>,
    /// XEP-0085: the chat state, if any.
    pub(super) chat_state: Option<String>,
    /// XEP-0333: id of the last message displayed.
    pub(super) displayed_id: Option<String>,
    /// XEP-0071: the XHTML body's content, unsanitised.
    pub(super) html: Option<String>,
    /// XEP-0066: an out-of-band file URL.
    pub(super) oob_url: Option<String>,
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
    let payload = |name: &str, ns: &str| message.payloads.iter().find(|p| p.is(name, ns));
    let attr_id = |name: &str, ns: &str| {
        payload(name, ns)
            .and_then(|p| p.attr("id"))
            .map(str::to_owned)
    };
    let nick = payload("nick", NS_NICK).map(Element::text);
    let reactions = payload("reactions", NS_REACTIONS).and_then(|r| {
        let keys = r
            .children()
            .filter(|c| c.is("reaction", NS_REACTIONS))
            .map(Element::text)
            .collect();
        r.attr("id").map(|id| (id.to_owned(), keys))
    });
    let chat_state = message
        .payloads
        .iter()
        .find(|p| p.ns() == NS_CHATSTATES)
        .map(|p| p.name().to_owned());
    let reply_id = attr_id("reply", NS_REPLY);
    let body = match (body, reply_id.is_some()) {
        (Some(b), true) => Some(strip_fallback(&b, message, NS_REPLY)),
        (b, _) => b,
    };
    Received {
        id,
        body,
        nick,
        replace_id: attr_id("replace", NS_CORRECT),
        reactions,
        retract_id: attr_id("retract", NS_RETRACT),
        reply_id,
        chat_state,
        displayed_id: attr_id("displayed", NS_MARKERS),
        html: payload("html", NS_XHTML_IM).and_then(xhtml_content),
        oob_url: payload("x", NS_OOB)
            .and_then(|x| x.children().find(|c| c.is("url", NS_OOB)))
            .map(Element::text)
            .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
    }
}

/// The inner markup of an XHTML-IM `<html>` payload's `<body>`.
fn xhtml_content(html: &Element) -> Option<String> {
    let body = html.children().find(|c| c.is("body", NS_XHTML))?;
    let mut out = String::new();
    for node in body.nodes() {
        match node {
            tokio_xmpp::minidom::Node::Element(e) => out.push_str(&String::from(e)),
            tokio_xmpp::minidom::Node::Text(t) => out.push_str(&crate::html::escape(t)),
        }
    }
    Some(out)
}

/// Removes the part of `body` a XEP-0428 fallback marks as being for `namespace` (a quoted
/// reply); offsets count Unicode code points.
fn strip_fallback(body: &str, message: &Message, namespace: &str) -> String {
    let ranges: Vec<(usize, usize)> = message
        .payloads
        .iter()
        .filter(|p| p.is("fallback", NS_FALLBACK) && p.attr("for") == Some(namespace))
        .flat_map(|f| {
            f.children()
                .filter(|c| c.is("body", NS_FALLBACK))
                .collect::<Vec<_>>()
        })
        .filter_map(|b| Some((b.attr("start")?.parse().ok()?, b.attr("end")?.parse().ok()?)))
        .collect();
    if ranges.is_empty() {
        return body.to_owned();
    }
    body.chars()
        .enumerate()
        .filter(|(i, _)| !ranges.iter().any(|(start, end)| i >= start && i < end))
        .map(|(_, c)| c)
        .collect::<String>()
        .trim_start()
        .to_owned()
}

/// Fuzzing entry point: an incoming stanza as the connector reads it.
#[cfg(fuzzing)]
pub(crate) fn fuzz(xml: &str) {
    let Ok(element) = xml.parse::<tokio_xmpp::minidom::Element>() else {
        return;
    };
    if let Ok(message) = Message::try_from(element) {
        let _ = read(&message);
        let _ = error_text(&message);
        let _ = is_chat(&message);
    }
}

/// The human-readable reason of an error stanza: its text, else its condition's name.
pub(super) fn error_text(message: &Message) -> Option<String> {
    let error = message.payloads.iter().find(|p| p.name() == "error")?;
    let text = error
        .children()
        .find(|c| c.name() == "text")
        .map(Element::text)
        .filter(|t| !t.is_empty());
    let condition = error
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        .map(|c| c.name().replace('-', " "));
    text.or(condition)
}

/// True for message types passerelle bridges one-to-one.
/// True if the message asks for an XEP-0184 receipt.
pub(super) fn wants_receipt(message: &Message) -> bool {
    message
        .payloads
        .iter()
        .any(|p| p.is("request", NS_RECEIPTS))
}

/// The XEP-0184 receipt for message `id`, from the address it was sent to.
pub(super) fn receipt(from: Jid, to: Jid, id: &str) -> Message {
    let mut message = bare(from, to, &format!("receipt-{id}"));
    message
        .payloads
        .push(element("received", NS_RECEIPTS, &[("id", id)]));
    message
}

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

    fn parse(xml: &str) -> Message {
        let element: Element = xml.parse().expect("xml");
        Message::try_from(element).expect("message")
    }

    #[test]
    fn corrections_reactions_retractions_and_markers_are_read() {
        let r = read(&parse(
            "<message xmlns='jabber:component:accept' id='c1' type='chat'><body>fixed</body>\
             <replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>",
        ));
        assert_eq!(
            (r.replace_id.as_deref(), r.body.as_deref()),
            (Some("m1"), Some("fixed"))
        );
        let r = read(&parse(
            "<message xmlns='jabber:component:accept' id='r1' type='chat'>\
             <reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>👍</reaction><reaction>🎉</reaction></reactions></message>",
        ));
        assert_eq!(
            r.reactions,
            Some(("m1".to_owned(), vec!["👍".to_owned(), "🎉".to_owned()]))
        );
        let r = read(&parse(
            "<message xmlns='jabber:component:accept' id='x1' type='chat'><body>gone</body>\
             <retract xmlns='urn:xmpp:message-retract:1' id='m1'/></message>",
        ));
        assert_eq!(r.retract_id.as_deref(), Some("m1"));
        let r = read(&parse(
            "<message xmlns='jabber:component:accept' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/>\
             <displayed xmlns='urn:xmpp:chat-markers:0' id='m2'/></message>",
        ));
        assert_eq!(
            (r.chat_state.as_deref(), r.displayed_id.as_deref()),
            (Some("composing"), Some("m2"))
        );
    }

    #[test]
    fn xhtml_im_bodies_are_read_and_sanitisable() {
        let r = read(&parse(
            "<message xmlns='jabber:component:accept' id='h1' type='chat'><body>Hi *there*</body>\
             <html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>\
             Hi <strong>there</strong> &amp; <script>x()</script></body></html></message>",
        ));
        let html = r.html.expect("xhtml body");
        let clean = crate::html::sanitize(&html).expect("shallow");
        assert!(
            clean.contains("<strong>there</strong>") && clean.contains("&amp;"),
            "{clean}"
        );
        assert!(!clean.contains("script"), "{clean}");
    }

    #[test]
    fn outgoing_reply_quotes_round_trip_through_the_fallback() {
        let (body, len) = super::quoted("line one\nline two", "my answer");
        assert_eq!(body, "> line one line two\nmy answer");
        let mut m = chat(
            Jid::from_str("a=x@m.x").expect("jid"),
            Jid::from_str("b@y").expect("jid"),
            "p1",
            &body,
        );
        super::add_reply(&mut m, "b@y", "m1", Some(len));
        let reparsed = parse(&String::from(&Element::from(m)));
        let r = read(&reparsed);
        assert_eq!(
            (r.reply_id.as_deref(), r.body.as_deref()),
            (Some("m1"), Some("my answer"))
        );
    }

    #[test]
    fn reply_fallbacks_are_cut_from_the_body() {
        let r = read(&parse(
            "<message xmlns='jabber:component:accept' id='q1' type='chat'><body>&gt; Alice: hé\nmy answer</body>\
             <reply xmlns='urn:xmpp:reply:0' to='a@x' id='m1'/>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='12'/></fallback></message>",
        ));
        assert_eq!(r.reply_id.as_deref(), Some("m1"));
        assert_eq!(r.body.as_deref(), Some("my answer"));
    }

    #[test]
    fn outgoing_actions_have_the_right_payloads() {
        let from = Jid::from_str("a=x.org@m.x.org").expect("jid");
        let to = Jid::from_str("bob@example.org").expect("jid");
        let xml = |m: Message| String::from(&Element::from(m));
        let reactions = xml(super::reactions(
            from.clone(),
            to.clone(),
            "p1",
            "m1",
            &["👍".to_owned()],
        ));
        assert!(reactions.contains("<reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>👍</reaction></reactions>"), "{reactions}");
        let retraction = xml(super::retraction(from.clone(), to.clone(), "p2", "m1"));
        assert!(
            retraction.contains("<retract xmlns='urn:xmpp:message-retract:1' id='m1'/>"),
            "{retraction}"
        );
        let correction = xml(super::correction(
            from.clone(),
            to.clone(),
            "p3",
            "m1",
            "new",
        ));
        assert!(
            correction.contains("<replace xmlns='urn:xmpp:message-correct:0' id='m1'/>"),
            "{correction}"
        );
        let state = xml(super::chat_state(
            from.clone(),
            to.clone(),
            "p4",
            "composing",
        ));
        assert!(
            state.contains("<composing xmlns='http://jabber.org/protocol/chatstates'/>"),
            "{state}"
        );
        let marker = xml(super::displayed(from, to, "p5", "m9"));
        assert!(
            marker.contains("<displayed xmlns='urn:xmpp:chat-markers:0' id='m9'/>"),
            "{marker}"
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
