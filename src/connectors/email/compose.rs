//! Matrix message → mail: addresses, threading headers, a Message-ID derived from the Matrix
//! event (a retry sends the same mail), text with its HTML alternative, attachments.

use lettre::{
    Message,
    message::{Attachment as MailAttachment, Mailbox, MultiPart, SinglePart, header::ContentType},
};
use sha2::{Digest, Sha256};

use super::parse::one_line;
use crate::connector::{Attachment, Outbound};

/// What a mail needs besides the message itself.
#[derive(Debug, Clone)]
pub(super) struct Envelope {
    /// From.
    pub from: Mailbox,
    /// Reply-To, if set.
    pub reply_to: Option<Mailbox>,
    /// The recipients.
    pub to: Vec<Mailbox>,
    /// Subject.
    pub subject: String,
    /// Message-ID, without brackets.
    pub message_id: String,
    /// In-Reply-To, without brackets.
    pub in_reply_to: Option<String>,
    /// References, without brackets, oldest first.
    pub references: Vec<String>,
}

/// The Message-ID of the mail carrying Matrix event `event_id`, on `domain`.
pub(super) fn message_id(event_id: &str, domain: &str) -> String {
    let digest = Sha256::digest(event_id.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("passerelle.{hex}@{domain}")
}

/// `From`: "Alice Martin via Mairie de Lyon <contact@…>", or the organisation alone.
pub(super) fn from_name(staff: Option<&str>, organisation: &str) -> String {
    match staff.map(one_line).filter(|s| !s.is_empty()) {
        Some(name) => format!("{name} via {}", one_line(organisation)),
        None => one_line(organisation),
    }
}

/// The subject of a new thread: the configured one, else the body's first line (shortened).
pub(super) fn new_subject(configured: Option<&str>, body: &str) -> String {
    if let Some(subject) = configured.map(one_line).filter(|s| !s.is_empty()) {
        return subject;
    }
    let first = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let line = one_line(first);
    if line.is_empty() {
        return "Message".to_owned();
    }
    let mut short: String = line.chars().take(78).collect();
    if line.chars().count() > 78 {
        short.push('…');
    }
    short
}

/// Builds the mail.
pub(super) fn build(
    envelope: &Envelope,
    message: &Outbound,
    file: Option<&Attachment>,
) -> Result<Message, String> {
    let mut builder = Message::builder()
        .from(envelope.from.clone())
        .subject(one_line(&envelope.subject))
        .message_id(Some(format!("<{}>", envelope.message_id)))
        .date_now();
    for to in &envelope.to {
        builder = builder.to(to.clone());
    }
    if let Some(reply_to) = &envelope.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    if let Some(parent) = &envelope.in_reply_to {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    if !envelope.references.is_empty() {
        let refs: Vec<String> = envelope
            .references
            .iter()
            .map(|r| format!("<{r}>"))
            .collect();
        builder = builder.references(refs.join(" "));
    }
    let text = match message.msgtype.as_str() {
        "m.emote" => format!("* {}", message.body),
        _ => message.body.clone(),
    };
    // Matrix clients send any HTML they like: only the Matrix tag set goes out.
    let html = message.html.as_deref().and_then(crate::html::sanitize);
    let body = match &html {
        Some(html) => MultiPart::alternative_plain_html(text, html_document(html)),
        None => MultiPart::mixed().singlepart(SinglePart::plain(text)),
    };
    let body = match file {
        Some(file) => {
            let content_type = ContentType::parse(&file.content_type).unwrap_or(
                ContentType::parse("application/octet-stream").map_err(|e| e.to_string())?,
            );
            let part =
                MailAttachment::new(one_line(&file.filename)).body(file.data.clone(), content_type);
            match &html {
                Some(_) => MultiPart::mixed().multipart(body).singlepart(part),
                None => body.singlepart(part),
            }
        }
        None => body,
    };
    builder
        .multipart(body)
        .map_err(|e| format!("cannot build the mail: {e}"))
}

fn html_document(body: &str) -> String {
    format!("<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{body}</body></html>")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::Sender;

    fn outbound(body: &str, html: Option<&str>) -> Outbound {
        Outbound {
            key: 1,
            conversation: "bob@example.org".into(),
            event_id: "$e".into(),
            sender: Sender {
                user_id: "@alice:example.org".into(),
                display_name: Some("Alice".into()),
            },
            body: body.into(),
            html: html.map(str::to_owned),
            msgtype: "m.text".into(),
            reply_to: None,
            reply_quote: None,
            thread_root: None,
        }
    }

    fn envelope() -> Envelope {
        Envelope {
            from: Mailbox::new(
                Some(from_name(Some("Alice\r\nBcc: evil@x.org"), "Mairie")),
                "contact@mairie.example".parse().expect("address"),
            ),
            reply_to: None,
            to: vec!["bob@example.org".parse().expect("mailbox")],
            subject: "Re: Budget\r\nBcc: evil@x.org".into(),
            message_id: message_id("$event", "mairie.example"),
            in_reply_to: Some("root@example.org".into()),
            references: vec!["root@example.org".into()],
        }
    }

    #[test]
    fn message_ids_are_stable_per_event() {
        assert_eq!(message_id("$a", "d.org"), message_id("$a", "d.org"));
        assert_ne!(message_id("$a", "d.org"), message_id("$b", "d.org"));
        assert!(message_id("$a", "d.org").ends_with("@d.org"));
    }

    #[test]
    fn headers_carry_threading_and_no_injection() {
        let mail = build(&envelope(), &outbound("Hello", None), None).expect("builds");
        let text = String::from_utf8(mail.formatted()).expect("utf-8");
        let headers = text.split("\r\n\r\n").next().unwrap_or("");
        assert!(
            headers.contains("In-Reply-To: <root@example.org>"),
            "{headers}"
        );
        assert!(
            headers.contains("References: <root@example.org>"),
            "{headers}"
        );
        assert!(
            headers.contains(&format!(
                "Message-ID: <{}>",
                message_id("$event", "mairie.example")
            )),
            "{headers}"
        );
        assert!(
            headers.contains("Subject: Re: Budget Bcc: evil@x.org"),
            "{headers}"
        );
        assert!(
            !headers.lines().any(|l| l.starts_with("Bcc:")),
            "a header was injected: {headers}"
        );
    }

    #[test]
    fn html_goes_with_a_text_alternative_and_files_are_attached() {
        let file = Attachment {
            filename: "report.pdf".into(),
            content_type: "application/pdf".into(),
            data: b"%PDF-1.4".to_vec(),
            link: None,
        };
        let mail = build(
            &envelope(),
            &outbound(
                "Hello",
                Some("<b>Hello</b><img src=\"https://tracker.example/x.gif\">"),
            ),
            Some(&file),
        )
        .expect("builds");
        let raw = mail.formatted();
        let parsed = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("parses back");
        assert_eq!(parsed.body_text(0).as_deref(), Some("Hello"));
        let html = parsed.body_html(0).expect("html part");
        assert!(html.contains("<b>Hello</b>"), "{html}");
        assert!(!html.contains("tracker.example"), "{html}");
        let attachment = parsed.attachment(0).expect("attachment");
        assert_eq!(
            mail_parser::MimeHeaders::attachment_name(attachment),
            Some("report.pdf")
        );
        assert_eq!(attachment.contents(), b"%PDF-1.4");
    }

    #[test]
    fn new_subjects_come_from_config_or_first_line() {
        assert_eq!(new_subject(Some("Mairie"), "x"), "Mairie");
        assert_eq!(new_subject(None, "\n  Hello there\nsecond"), "Hello there");
        assert_eq!(new_subject(None, ""), "Message");
        assert_eq!(new_subject(None, &"a".repeat(100)).chars().count(), 79);
    }
}
