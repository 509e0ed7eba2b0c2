//! Incoming mail → what the bridge needs of it: who, which thread, text, HTML and files.

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use super::{address, dsn, quotes};

/// Most attachments taken from one mail; the rest are listed as skipped.
const MAX_ATTACHMENTS: usize = 20;

/// A mail, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParsedMail {
    /// Its Message-ID without brackets (a digest of the mail when it has none).
    pub message_id: String,
    /// The sender's address and name.
    pub from: Option<(String, Option<String>)>,
    /// Every address in To and Cc.
    pub recipients: Vec<String>,
    /// The subject, without `Re:`/`Fwd:` prefixes.
    pub subject: String,
    /// The Date header, in ms since the epoch.
    pub date_ms: Option<i64>,
    /// In-Reply-To.
    pub in_reply_to: Option<String>,
    /// References, oldest first.
    pub references: Vec<String>,
    /// Plain text (quoted history cut when asked).
    pub text: String,
    /// Sanitised HTML, if the mail has an HTML part.
    pub html: Option<String>,
    /// Attachments and inline images within the size limit.
    pub files: Vec<MailFile>,
    /// Names of attachments left out (too big, too many), with why.
    pub skipped_files: Vec<String>,
    /// An auto-reply (`Auto-Submitted` other than `no`).
    pub automatic: bool,
    /// A delivery status notification.
    pub report: Option<dsn::Report>,
}

/// An attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MailFile {
    /// File name.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// The decoded bytes.
    pub data: Vec<u8>,
}

/// Decodes `raw`; `None` if it is not a mail at all.
pub(super) fn parse(raw: &[u8], trim_quotes: bool, max_attachment: u64) -> Option<ParsedMail> {
    let message = MessageParser::default().parse(raw)?;
    let message_id = message
        .message_id()
        .map(clean_id)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| {
            let digest = Sha256::digest(raw);
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("{hex}@no-message-id.invalid")
        });
    let from = message.from().and_then(Address::first).and_then(|a| {
        let addr = address::normalize(a.address()?).ok()?;
        let name = a
            .name()
            .map(one_line)
            .filter(|n| !n.is_empty() && *n != addr);
        Some((addr, name))
    });
    let mut recipients = Vec::new();
    for list in [message.to(), message.cc()].into_iter().flatten() {
        recipients.extend(
            list.iter()
                .filter_map(|a| address::normalize(a.address()?).ok()),
        );
    }
    let html_part = message.html_part(0).filter(|p| p.is_text_html());
    // The text part, or the text rendering of an HTML-only mail.
    let raw_text = message
        .body_text(0)
        .map(|t| t.into_owned())
        .unwrap_or_default();
    let text = if trim_quotes {
        quotes::trim_text(&raw_text)
    } else {
        raw_text.trim_end().to_owned()
    };
    let html = html_part
        .and_then(|p| p.text_contents())
        .and_then(|h| sanitize(h, trim_quotes));
    let (files, skipped_files) = attachments(&message, max_attachment);
    let automatic = message
        .header("Auto-Submitted")
        .and_then(HeaderValue::as_text)
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("no"));
    Some(ParsedMail {
        message_id,
        from,
        recipients,
        subject: base_subject(message.subject().unwrap_or("")),
        date_ms: message
            .date()
            .map(|d| d.to_timestamp().saturating_mul(1000)),
        in_reply_to: ids(message.in_reply_to()).pop(),
        references: ids(message.references()),
        text,
        html,
        files,
        skipped_files,
        automatic,
        report: dsn::delivery_report(&message),
    })
}

/// The sanitised HTML body; the quoted history (blockquotes) removed when asked.
fn sanitize(html: &str, trim_quotes: bool) -> Option<String> {
    if !trim_quotes {
        return crate::html::sanitize(html);
    }
    crate::html::sanitize_without(html, &["blockquote"])
}

fn attachments(message: &Message<'_>, max: u64) -> (Vec<MailFile>, Vec<String>) {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        // A forwarded mail is an attachment too; it keeps its subject as name.
        let filename = part
            .attachment_name()
            .map(one_line)
            .or_else(|| {
                part.message()
                    .and_then(|m| m.subject())
                    .map(|s| format!("{}.eml", one_line(s)))
            })
            .unwrap_or_else(|| format!("attachment-{}", i + 1));
        let data = match part.message() {
            Some(nested) => nested.raw_message(),
            None => part.contents(),
        };
        if i >= MAX_ATTACHMENTS {
            skipped.push(format!(
                "{filename} (more than {MAX_ATTACHMENTS} attachments)"
            ));
            continue;
        }
        if data.len() as u64 > max {
            skipped.push(format!(
                "{filename} ({}, over the {} limit)",
                bytesize::ByteSize::b(data.len() as u64),
                bytesize::ByteSize::b(max)
            ));
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_ascii_lowercase();
        files.push(MailFile {
            filename,
            content_type,
            data: data.to_vec(),
        });
    }
    (files, skipped)
}

/// Message-IDs of an id header (In-Reply-To, References), brackets removed.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<String> = match value {
        HeaderValue::Text(t) => vec![t.to_string()],
        HeaderValue::TextList(l) => l.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    list.iter()
        .map(|id| clean_id(id))
        .filter(|id| !id.is_empty())
        .collect()
}

/// A Message-ID without brackets, spaces or control characters.
pub(super) fn clean_id(id: &str) -> String {
    id.trim()
        .trim_matches(['<', '>'])
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '<' | '>'))
        .take(250)
        .collect()
}

/// Fuzzing entry point: decodes any bytes as a mail.
#[cfg(fuzzing)]
pub(crate) fn fuzz(raw: &[u8]) {
    let _ = parse(raw, true, 1 << 20);
}

/// A subject without reply/forward prefixes (`Re:`, `Fwd:`, `TR :`, `AW:`, …), on one line.
pub(super) fn base_subject(subject: &str) -> String {
    let mut s = one_line(subject);
    loop {
        let lower = s.to_lowercase();
        let prefix = ["re", "fwd", "fw", "tr", "aw", "wg", "rv", "r"]
            .iter()
            .find_map(|p| {
                let rest = lower.strip_prefix(p)?;
                let rest_trimmed = rest.trim_start();
                rest_trimmed
                    .strip_prefix(':')
                    .map(|after| s.len() - after.len())
            });
        match prefix {
            Some(cut) => s = s[cut..].trim_start().to_owned(),
            None => return s,
        }
    }
}

/// Text on one line: control characters (CR, LF, tabs) become spaces, runs collapse.
pub(super) fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_control() || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(text: &str) -> ParsedMail {
        parse(text.replace('\n', "\r\n").as_bytes(), true, 1 << 20).expect("parses")
    }

    #[test]
    fn headers_are_decoded() {
        let m = mail(
            "From: =?UTF-8?Q?Ren=C3=A9e_Dupr=C3=A9?= <Renee@Example.org>\n\
To: contact@mairie.example, Bob <bob@example.org>\n\
Cc: carol@example.org\n\
Subject: =?ISO-8859-1?Q?Re:_Demande_d'acc=E8s?=\n\
Date: Mon, 3 Mar 2025 10:00:00 +0100\n\
Message-ID: <abc@example.org>\n\
In-Reply-To: <root@mairie.example>\n\
References: <root@mairie.example> <second@example.org>\n\
\n\
Bonjour\n",
        );
        assert_eq!(
            m.from,
            Some(("renee@example.org".into(), Some("Renée Dupré".into())))
        );
        assert_eq!(
            m.recipients,
            [
                "contact@mairie.example",
                "bob@example.org",
                "carol@example.org"
            ]
        );
        assert_eq!(m.subject, "Demande d'accès");
        assert_eq!(m.message_id, "abc@example.org");
        assert_eq!(m.in_reply_to.as_deref(), Some("root@mairie.example"));
        assert_eq!(m.references, ["root@mairie.example", "second@example.org"]);
        assert_eq!(m.date_ms, Some(1_740_992_400_000));
        assert_eq!(m.text, "Bonjour");
        assert!(!m.automatic);
    }

    #[test]
    fn quoted_printable_and_base64_bodies_are_decoded() {
        let qp = mail(
            "From: a@x.org\nContent-Type: text/plain; charset=iso-8859-1\n\
Content-Transfer-Encoding: quoted-printable\n\nD=E9j=E0 vu =3D ok\n",
        );
        assert_eq!(qp.text, "Déjà vu = ok");
        let b64 = mail(
            "From: a@x.org\nContent-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: base64\n\nwqFIb2xhIG11bmRvIQ==\n",
        );
        assert_eq!(b64.text, "¡Hola mundo!");
    }

    #[test]
    fn html_is_sanitised_and_quotes_removed() {
        let m = mail(
            "From: a@x.org\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\
Content-Type: text/plain\n\nHello *there*\n\nOn Mon, Bob wrote:\n> old\n--b\n\
Content-Type: text/html\n\n<p onclick=\"x()\">Hello <b>there</b><script>alert(1)</script></p>\
<blockquote type=\"cite\">old</blockquote>\n--b--\n",
        );
        assert_eq!(m.text, "Hello *there*");
        let html = m.html.expect("html kept");
        assert!(html.contains("Hello <b>there</b>"), "{html}");
        assert!(
            !html.contains("script") && !html.contains("onclick"),
            "{html}"
        );
        assert!(!html.contains("old"), "{html}");
    }

    #[test]
    fn attachments_are_kept_within_the_limit() {
        let m = parse(
            b"From: a@x.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nSee attached\r\n--b\r\n\
Content-Type: image/png; name=\"dot.png\"\r\nContent-Disposition: attachment; filename=\"dot.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b\r\n\
Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"big.pdf\"\r\n\r\n\
0123456789012345678901234567890123456789\r\n--b--\r\n",
            true,
            16,
        )
        .expect("parses");
        assert_eq!(m.text, "See attached");
        assert_eq!(
            m.files,
            [MailFile {
                filename: "dot.png".into(),
                content_type: "image/png".into(),
                data: vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a],
            }]
        );
        assert_eq!(m.skipped_files.len(), 1);
        assert!(
            m.skipped_files[0].starts_with("big.pdf"),
            "{:?}",
            m.skipped_files
        );
    }

    #[test]
    fn auto_replies_are_flagged() {
        let m =
            mail("From: a@x.org\nAuto-Submitted: auto-replied\nSubject: Out of office\n\nAway.\n");
        assert!(m.automatic);
    }

    #[test]
    fn a_mail_without_message_id_gets_a_stable_one() {
        let raw = "From: a@x.org\r\n\r\nhi\r\n";
        let one = parse(raw.as_bytes(), true, 1024).expect("parses");
        let two = parse(raw.as_bytes(), true, 1024).expect("parses");
        assert_eq!(one.message_id, two.message_id);
        assert!(one.message_id.ends_with("@no-message-id.invalid"));
    }

    #[test]
    fn subjects_lose_reply_prefixes_and_line_breaks() {
        assert_eq!(base_subject("Re: RE: Fwd: Budget"), "Budget");
        assert_eq!(base_subject("TR : Réunion"), "Réunion");
        assert_eq!(base_subject("Reunion"), "Reunion");
        assert_eq!(base_subject("a\r\nBcc: x@evil"), "a Bcc: x@evil");
    }

    #[test]
    fn hostile_mime_is_parsed_without_crashing() {
        let mut deep = String::from("From: a@x.org\r\n");
        for i in 0..2000 {
            deep.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
            ));
        }
        deep.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
        let m = parse(deep.as_bytes(), true, 1024);
        assert!(m.is_some());
        let broken =
            b"From: a@x.org\r\nContent-Type: multipart/mixed; boundary=\r\n\r\n--\r\n\xff\xfe\r\n";
        assert!(parse(broken, true, 1024).is_some());
        let html_bomb = format!(
            "From: a@x.org\r\nContent-Type: text/html\r\n\r\n{}x",
            "<div>".repeat(100_000)
        );
        let m = parse(html_bomb.as_bytes(), true, 1024).expect("parses");
        assert_eq!(m.html, None);
    }
}
