//! Delivery status notifications (RFC 3464): which recipients of which sent mail failed, and why.

use mail_parser::{Message, MessageParser, MimeHeaders};

/// A bounce of a mail passerelle sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Report {
    /// Message-ID of the bounced mail, when the report includes it.
    pub original: Option<String>,
    /// The recipients it failed for.
    pub failures: Vec<Failure>,
}

/// One recipient the mail could not reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    /// The address.
    pub recipient: String,
    /// Why, as the reporting server says.
    pub reason: String,
}

/// The delivery report of a `multipart/report; report-type=delivery-status` mail; `None` for any
/// other mail.
pub(super) fn delivery_report(message: &Message<'_>) -> Option<Report> {
    let root = message.root_part().content_type()?;
    let is_report = root.ctype().eq_ignore_ascii_case("multipart")
        && root
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        && root
            .attribute("report-type")
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
    if !is_report {
        return None;
    }
    let mut report = Report {
        original: None,
        failures: Vec::new(),
    };
    for part in message.parts.iter().skip(1) {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let subtype = ct.subtype().unwrap_or("").to_ascii_lowercase();
        match (ct.ctype().to_ascii_lowercase().as_str(), subtype.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") => {
                let raw = match part.message() {
                    Some(nested) => nested.raw_message(),
                    None => part.contents(),
                };
                report
                    .failures
                    .extend(failures(&String::from_utf8_lossy(raw)));
            }
            ("message", "rfc822" | "global") if report.original.is_none() => {
                report.original = part
                    .message()
                    .and_then(|m| m.message_id())
                    .map(str::to_owned);
            }
            ("text", "rfc822-headers") if report.original.is_none() => {
                report.original = MessageParser::default()
                    .parse_headers(part.contents())
                    .and_then(|m| m.message_id().map(str::to_owned));
            }
            _ => {}
        }
    }
    Some(report)
}

/// The failed recipients of a `message/delivery-status` body: per-recipient field groups
/// separated by blank lines, after the per-message group.
fn failures(status: &str) -> Vec<Failure> {
    let mut out = Vec::new();
    for group in status.replace("\r\n", "\n").split("\n\n") {
        let fields = unfold(group);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if !field("Action").is_some_and(|a| a.eq_ignore_ascii_case("failed")) {
            continue;
        }
        let Some(recipient) = field("Final-Recipient").or(field("Original-Recipient")) else {
            continue;
        };
        let recipient = after_type(recipient)
            .trim_matches(['<', '>'])
            .to_lowercase();
        let reason = match (field("Diagnostic-Code"), field("Status")) {
            (Some(diagnostic), _) => after_type(diagnostic).to_owned(),
            (None, Some(status)) => format!("status {status}"),
            (None, None) => "delivery failed".to_owned(),
        };
        out.push(Failure { recipient, reason });
    }
    out
}

/// `type; value` → `value`.
fn after_type(field: &str) -> &str {
    field.split_once(';').map_or(field, |(_, v)| v).trim()
}

/// Header fields of a group, continuation lines joined.
fn unfold(group: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in group.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNCE: &str = "From: MAILER-DAEMON@mx.example.org\r\n\
To: contact@mairie.example\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <bounce-1@mx.example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
\r\n\
--B\r\n\
Content-Type: text/plain\r\n\
\r\n\
I'm sorry to have to inform you that your message could not be delivered.\r\n\
--B\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.example.org\r\n\
Arrival-Date: Mon, 3 Mar 2025 10:00:00 +0100\r\n\
\r\n\
Final-Recipient: rfc822; nobody@example.org\r\n\
Original-Recipient: rfc822;nobody@example.org\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address\r\n\
\x20rejected: User unknown\r\n\
\r\n\
Final-Recipient: rfc822; late@example.org\r\n\
Action: delayed\r\n\
Status: 4.4.1\r\n\
--B\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: Alice via Mairie <contact@mairie.example>\r\n\
Message-ID: <passerelle.abc@mairie.example>\r\n\
Subject: Your request\r\n\
--B--\r\n";

    #[test]
    fn a_bounce_names_the_original_and_the_failed_recipient() {
        let message = MessageParser::default()
            .parse(BOUNCE.as_bytes())
            .expect("parses");
        let report = delivery_report(&message).expect("is a report");
        assert_eq!(
            report.original.as_deref(),
            Some("passerelle.abc@mairie.example")
        );
        assert_eq!(
            report.failures,
            [Failure {
                recipient: "nobody@example.org".into(),
                reason: "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown"
                    .into(),
            }]
        );
    }

    #[test]
    fn an_ordinary_mail_is_no_report() {
        let mail = "From: a@x.org\r\nSubject: hi\r\n\r\nhello\r\n";
        let message = MessageParser::default()
            .parse(mail.as_bytes())
            .expect("parses");
        assert_eq!(delivery_report(&message), None);
    }
}
