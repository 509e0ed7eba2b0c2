//! Message content helpers: reply fallbacks and media references.

use ruma::events::room::message::MessageType;

use super::outbox::MediaRef;

/// The file of a media message (image, file, audio, video), if it is not encrypted.
pub(super) fn media_of(msgtype: &MessageType) -> Option<MediaRef> {
    use ruma::events::room::MediaSource;
    let (source, filename, mimetype, size) = match msgtype {
        MessageType::Image(m) => (
            &m.source,
            m.filename.clone().unwrap_or_else(|| m.body.clone()),
            m.info.as_ref().and_then(|i| i.mimetype.clone()),
            m.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::File(m) => (
            &m.source,
            m.filename.clone().unwrap_or_else(|| m.body.clone()),
            m.info.as_ref().and_then(|i| i.mimetype.clone()),
            m.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::Audio(m) => (
            &m.source,
            m.filename.clone().unwrap_or_else(|| m.body.clone()),
            m.info.as_ref().and_then(|i| i.mimetype.clone()),
            m.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::Video(m) => (
            &m.source,
            m.filename.clone().unwrap_or_else(|| m.body.clone()),
            m.info.as_ref().and_then(|i| i.mimetype.clone()),
            m.info.as_ref().and_then(|i| i.size),
        ),
        _ => return None,
    };
    let MediaSource::Plain(mxc) = source else {
        return None;
    };
    Some(MediaRef {
        mxc: mxc.to_string(),
        filename,
        mimetype,
        size: size.map(u64::from),
    })
}

/// Removes the `> quoted` lines a reply fallback puts before the text.
pub(super) fn strip_reply_fallback(body: &str) -> String {
    let mut lines = body.lines().peekable();
    if !lines.peek().is_some_and(|l| l.starts_with("> ")) {
        return body.to_owned();
    }
    while lines.peek().is_some_and(|l| l.starts_with('>')) {
        lines.next();
    }
    if lines.peek().is_some_and(|l| l.is_empty()) {
        lines.next();
    }
    lines.collect::<Vec<_>>().join("\n")
}

/// Removes the `<mx-reply>` block from a formatted body.
pub(super) fn strip_reply_html(html: &str) -> String {
    match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &html[..start], &html[end + "</mx-reply>".len()..])
        }
        _ => html.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{strip_reply_fallback, strip_reply_html};

    #[test]
    fn reply_fallbacks_are_removed() {
        assert_eq!(
            strip_reply_fallback("> <@a:x> original\n> more\n\nmy answer"),
            "my answer"
        );
        assert_eq!(strip_reply_fallback("plain text"), "plain text");
        assert_eq!(strip_reply_fallback("a > b"), "a > b");
        assert_eq!(
            strip_reply_html("<mx-reply><blockquote>q</blockquote></mx-reply><b>answer</b>"),
            "<b>answer</b>"
        );
    }
}
