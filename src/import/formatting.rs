//! Telegram text entities to Matrix HTML (`org.matrix.custom.html`). Text is escaped, links
//! keep only http(s) and mailto targets, and mentions point at the mentioned sender's ghost.

use super::Span;

/// The HTML of formatted runs; `None` if there is nothing to format. `mention` gives the
/// Matrix user id standing for a Telegram sender id (`user123`), if any.
pub fn html(spans: &[Span], mention: impl Fn(&str) -> Option<String>) -> Option<String> {
    if spans.is_empty() {
        return None;
    }
    let mut out = String::new();
    for s in spans {
        let text = escape(&s.text, true);
        let piece = match s.kind.as_str() {
            "bold" => format!("<strong>{text}</strong>"),
            "italic" => format!("<em>{text}</em>"),
            "underline" => format!("<u>{text}</u>"),
            "strikethrough" => format!("<del>{text}</del>"),
            "code" => format!("<code>{}</code>", escape(&s.text, false)),
            "pre" => match &s.language {
                Some(lang) => format!(
                    "<pre><code class=\"language-{}\">{}</code></pre>",
                    escape(lang, false),
                    escape(&s.text, false)
                ),
                None => format!("<pre><code>{}</code></pre>", escape(&s.text, false)),
            },
            "spoiler" => format!("<span data-mx-spoiler>{text}</span>"),
            "blockquote" => format!("<blockquote>{text}</blockquote>"),
            "link" => link(&s.text, &text),
            "email" => link(&format!("mailto:{}", s.text), &text),
            "text_link" => link(s.href.as_deref().unwrap_or_default(), &text),
            "mention_name" => match s.user.as_deref().and_then(&mention) {
                Some(user) => format!(
                    "<a href=\"https://matrix.to/#/{}\">{text}</a>",
                    escape(&user, false)
                ),
                None => text,
            },
            _ => text,
        };
        out.push_str(&piece);
    }
    Some(out)
}

fn link(href: &str, text: &str) -> String {
    let lower = href.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
    {
        format!("<a href=\"{}\">{text}</a>", escape(href, false))
    } else {
        text.to_owned()
    }
}

/// Escapes HTML; with `breaks`, newlines become `<br/>`.
fn escape(s: &str, breaks: bool) -> String {
    let out = crate::html::escape(s);
    if breaks {
        return out.replace('\n', "<br/>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::html;
    use crate::import::Span;

    fn span(kind: &str, text: &str) -> Span {
        Span {
            kind: kind.to_owned(),
            text: text.to_owned(),
            href: None,
            user: None,
            language: None,
        }
    }

    #[test]
    fn entities_become_escaped_html() {
        let mut pre = span("pre", "if a < b {}");
        pre.language = Some("rust".into());
        let mut evil = span("text_link", "click");
        evil.href = Some("javascript:alert(1)".into());
        let mut good = span("text_link", "site");
        good.href = Some("https://example.org/?a=1&b=\"2\"".into());
        let mut mention = span("mention_name", "Bob");
        mention.user = Some("user222".into());
        let spans = vec![
            span("plain", "Hi <you>\n"),
            span("bold", "bold"),
            span("italic", "it"),
            pre,
            evil,
            good,
            mention,
            span("link", "https://example.org"),
            span("spoiler", "secret"),
        ];
        let out = html(&spans, |u| {
            (u == "user222").then(|| "@_import_x.user222:hs".to_owned())
        });
        assert_eq!(
            out.as_deref(),
            Some(concat!(
                "Hi &lt;you&gt;<br/><strong>bold</strong><em>it</em>",
                "<pre><code class=\"language-rust\">if a &lt; b {}</code></pre>",
                "click<a href=\"https://example.org/?a=1&amp;b=&quot;2&quot;\">site</a>",
                "<a href=\"https://matrix.to/#/@_import_x.user222:hs\">Bob</a>",
                "<a href=\"https://example.org\">https://example.org</a>",
                "<span data-mx-spoiler>secret</span>"
            ))
        );
        assert_eq!(html(&[], |_| None), None);
    }
}
