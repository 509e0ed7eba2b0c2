//! HTML from remote networks, made safe for Matrix clients.

use ruma::html::{Html, SanitizerConfig};

/// Deepest tag nesting accepted; deeper documents are refused before parsing (the parser and
/// sanitiser recurse, and hostile input must not exhaust the stack). Matrix clients drop
/// nesting beyond 100 levels anyway.
const MAX_DEPTH: usize = 100;

/// Sanitises remote HTML to the tags and attributes the Matrix specification allows
/// (ruma's strict mode: no scripts, no event handlers, no `javascript:` links). `None` when
/// the document nests too deeply to be handled safely: use the plain-text body instead.
pub fn sanitize(html: &str) -> Option<String> {
    if nesting_bound(html) > MAX_DEPTH {
        return None;
    }
    let parsed = Html::parse(html);
    parsed.sanitize_with(&SanitizerConfig::strict());
    Some(parsed.to_string())
}

/// Like [`sanitize`], also dropping every `elements` element with its content (e.g. the quoted
/// history of a mail).
pub fn sanitize_without(html: &str, elements: &[&'static str]) -> Option<String> {
    if nesting_bound(html) > MAX_DEPTH {
        return None;
    }
    let parsed = Html::parse(html);
    parsed.sanitize_with(&SanitizerConfig::strict().remove_elements(elements.iter().copied()));
    Some(parsed.to_string())
}

/// An upper bound of the tag nesting: every opening tag counts, every closing tag uncounts
/// (void and self-closing tags only make the bound larger, which is the safe side).
fn nesting_bound(html: &str) -> usize {
    let bytes = html.as_bytes();
    let (mut depth, mut deepest) = (0usize, 0usize);
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'<' {
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'/') => depth = depth.saturating_sub(1),
            Some(c) if c.is_ascii_alphabetic() => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            _ => {}
        }
    }
    deepest
}

/// Escapes text for inclusion in HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, sanitize};

    #[test]
    fn hostile_html_is_neutralised() {
        let out = sanitize("<p onclick='x()'>hi <script>alert(1)</script><a href='javascript:alert(1)'>x</a><b>bold</b></p>")
            .expect("shallow");
        assert!(
            !out.contains("script") && !out.contains("onclick") && !out.contains("javascript"),
            "{out}"
        );
        assert!(out.contains("<b>bold</b>"), "{out}");
    }

    #[test]
    fn deep_nesting_does_not_crash() {
        let deep = "<div>".repeat(10_000) + "x" + &"</div>".repeat(10_000);
        assert_eq!(sanitize(&deep), None);
        let ok = "<div>".repeat(50) + "x" + &"</div>".repeat(50);
        assert!(sanitize(&ok).is_some_and(|h| h.contains('x')));
        // Unclosed tags count as nesting too.
        assert_eq!(sanitize(&"<b>".repeat(5_000)), None);
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
