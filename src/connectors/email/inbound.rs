//! A fetched mail → the items the runtime bridges: the message in its thread, the other
//! correspondents joining a group conversation, or the failures a bounce reports.

use super::{EmailConnector, NAME, address, dsn, parse};
use crate::{
    connector::{ConnectorCtx, Inbound, InboundKind, RemoteFile},
    html::escape,
    store::{EmailThreadEntry, now_ms},
};

/// Most References kept on a reply.
const MAX_REFERENCES: usize = 20;

/// What marks a handed-over mail: the remote id to wait for, and whether a Matrix event must
/// exist for it (a message) or the stored item is enough (a bounce). `None`: leave it unmarked.
pub(super) type Mark = Option<(String, bool)>;

/// Hands one mail to the runtime.
pub(super) async fn bridge(
    connector: &EmailConnector,
    raw: &[u8],
    uid: u32,
    ctx: &ConnectorCtx,
) -> Result<Mark, String> {
    let config = &connector.config;
    let Some(mail) = parse::parse(raw, config.trim_quotes, config.max_attachment_size.as_u64())
    else {
        tracing::warn!(
            connector = NAME,
            uid,
            "A mail could not be read as a mail; it is left unmarked in the mailbox."
        );
        return Ok(None);
    };
    if let Some(report) = &mail.report {
        return bounce(connector, &mail, report, ctx).await;
    }
    let Some((from, name)) = mail.from.clone() else {
        tracing::warn!(
            connector = NAME,
            uid,
            "A mail without a usable From address; it is left unmarked in the mailbox."
        );
        return Ok(None);
    };
    if connector.is_own(&from) {
        // A copy of our own mail (a loop, a Bcc): nothing to bridge.
        return Ok(Some((mail.message_id, false)));
    }
    let store = connector.store()?;
    let mut known = None;
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        if let Some(entry) = store
            .email_thread_entry(NAME, id)
            .await
            .map_err(|e| e.to_string())?
        {
            known = Some(entry);
            break;
        }
    }
    let conversation = match &known {
        Some(entry) => entry.conversation.clone(),
        None => {
            let others = mail
                .recipients
                .iter()
                .filter(|a| !connector.is_own(a) && **a != from)
                .map(String::as_str);
            address::conversation(std::iter::once(from.as_str()).chain(others))
                .unwrap_or_else(|| from.clone())
        }
    };
    let (root, subject) = match &known {
        Some(entry) => (entry.thread_root.clone(), entry.subject.clone()),
        None => (mail.message_id.clone(), mail.subject.clone()),
    };
    let mut refs = if mail.references.is_empty() {
        mail.in_reply_to.iter().cloned().collect()
    } else {
        mail.references.clone()
    };
    refs.push(mail.message_id.clone());
    store
        .email_thread_insert(
            NAME,
            &EmailThreadEntry {
                message_id: mail.message_id.clone(),
                thread_root: root.clone(),
                subject: subject.clone(),
                refs: last(refs, MAX_REFERENCES).join(" "),
                conversation: conversation.clone(),
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let starts_thread = root == mail.message_id;
    let (body, html) = content(&mail, starts_thread.then_some(subject.as_str()));
    let now = now_ms();
    let inbound = Inbound {
        remote_id: mail.message_id.clone(),
        conversation: conversation.clone(),
        sender: from.clone(),
        sender_name: name,
        body,
        html,
        // A date in the future is not believed.
        timestamp_ms: mail.date_ms.filter(|t| *t > 0 && *t <= now + 300_000),
        reply_to: mail.in_reply_to.clone(),
        thread: (!starts_thread).then_some(root),
        notice: mail.automatic,
        files: mail
            .files
            .iter()
            .map(|f| RemoteFile {
                url: f.filename.clone(),
                filename: Some(f.filename.clone()),
                content_type: Some(f.content_type.clone()),
                data: Some(f.data.clone()),
            })
            .collect(),
        ..Inbound::default()
    };
    ctx.inbound
        .commit(NAME, inbound)
        .await
        .map_err(|e| e.to_string())?;
    if known.is_none() && address::is_group(&conversation) {
        for member in address::members(&conversation).filter(|m| *m != from) {
            let joined = Inbound {
                remote_id: format!("{}#joined#{member}", mail.message_id),
                conversation: conversation.clone(),
                sender: member.to_owned(),
                kind: InboundKind::Joined,
                ..Inbound::default()
            };
            ctx.inbound
                .commit(NAME, joined)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(Some((mail.message_id, true)))
}

/// A mail over `max_message_size`: its sender's room is told, the mail stays in the mailbox.
pub(super) async fn too_big(
    connector: &EmailConnector,
    headers: &[u8],
    uid: u32,
    validity: u32,
    size: u32,
    ctx: &ConnectorCtx,
) -> Result<(), String> {
    let parsed = parse::parse(headers, false, 0);
    let Some((from, name)) = parsed.as_ref().and_then(|m| m.from.clone()) else {
        tracing::warn!(
            connector = NAME,
            uid,
            size,
            "A mail over max_message_size without a usable From; left in the mailbox."
        );
        return Ok(());
    };
    let subject = parsed.map(|m| m.subject).unwrap_or_default();
    let inbound = Inbound {
        remote_id: format!("too-big/{validity}/{uid}"),
        conversation: from.clone(),
        sender: from,
        sender_name: name,
        body: format!(
            "📧 A mail (\u{201c}{subject}\u{201d}, {}) is larger than max_message_size ({}); it was left in the mailbox.",
            bytesize::ByteSize::b(u64::from(size)),
            connector.config.max_message_size
        ),
        notice: true,
        ..Inbound::default()
    };
    ctx.inbound
        .commit(NAME, inbound)
        .await
        .map_err(|e| e.to_string())
}

/// A bounce: a failure notice on the bounced message for each failed recipient.
async fn bounce(
    connector: &EmailConnector,
    mail: &parse::ParsedMail,
    report: &dsn::Report,
    ctx: &ConnectorCtx,
) -> Result<Mark, String> {
    let Some(original) = &report.original else {
        tracing::warn!(
            connector = NAME,
            "A delivery report without the bounced mail's Message-ID; left unmarked in the mailbox."
        );
        return Ok(None);
    };
    let store = connector.store()?;
    let Some(entry) = store
        .email_thread_entry(NAME, original)
        .await
        .map_err(|e| e.to_string())?
    else {
        tracing::info!(
            connector = NAME,
            "A delivery report for mail passerelle did not send; left unmarked in the mailbox."
        );
        return Ok(None);
    };
    let mut first = None;
    for failure in &report.failures {
        let remote_id = format!("{}#failed#{}", mail.message_id, failure.recipient);
        let inbound = Inbound {
            remote_id: remote_id.clone(),
            conversation: entry.conversation.clone(),
            sender: failure.recipient.clone(),
            kind: InboundKind::DeliveryFailed {
                target: original.clone(),
                reason: failure.reason.clone(),
                key: None,
            },
            ..Inbound::default()
        };
        ctx.inbound
            .commit(NAME, inbound)
            .await
            .map_err(|e| e.to_string())?;
        first.get_or_insert(remote_id);
    }
    Ok(first.map(|id| (id, false)))
}

/// Body and HTML; a thread's first mail starts with its subject.
fn content(mail: &parse::ParsedMail, subject: Option<&str>) -> (String, Option<String>) {
    let mut text = mail.text.clone();
    let mut html = mail.html.clone();
    if mail.automatic {
        text = format!("Automatic reply: {text}");
        html = html.map(|h| format!("<em>Automatic reply:</em> {h}"));
    }
    if !mail.skipped_files.is_empty() {
        let list = mail.skipped_files.join(", ");
        text = format!("{text}\n\n📎 Not copied to Matrix: {list}");
        html = html.map(|h| format!("{h}<p>📎 Not copied to Matrix: {}</p>", escape(&list)));
    }
    if let Some(subject) = subject.filter(|s| !s.is_empty()) {
        let html_body = html.unwrap_or_else(|| escape(&text).replace('\n', "<br>"));
        html = Some(format!(
            "<p><strong>{}</strong></p>{html_body}",
            escape(subject)
        ));
        text = format!("{subject}\n\n{text}");
    }
    (text.trim_end().to_owned(), html)
}

fn last(mut items: Vec<String>, n: usize) -> Vec<String> {
    if items.len() > n {
        items.drain(..items.len() - n);
    }
    items
}
