//! Telegram Desktop writes control characters as `\xNN`, which JSON does not allow; this
//! rewrites each such escape as `\u00NN` before parsing.

use std::borrow::Cow;

/// Rewrites `\xNN` escapes (a backslash preceded by an even number of backslashes, then `x`
/// and two hex digits) as `\u00NN`; returns the fixed text and the number of repairs.
pub(crate) fn repair(input: &[u8]) -> (Cow<'_, [u8]>, usize) {
    if !input.windows(2).any(|w| w == b"\\x") {
        return (Cow::Borrowed(input), 0);
    }
    let mut out = Vec::with_capacity(input.len() + 64);
    let mut repairs = 0;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        // A backslash starts an escape: copy it with the escaped character.
        match (input.get(i + 1), input.get(i + 2), input.get(i + 3)) {
            (Some(b'x'), Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.extend_from_slice(b"\\u00");
                out.push(*h);
                out.push(*l);
                repairs += 1;
                i += 4;
            }
            (Some(next), _, _) => {
                out.push(b);
                out.push(*next);
                i += 2;
            }
            (None, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    (Cow::Owned(out), repairs)
}

#[cfg(test)]
mod tests {
    use super::repair;

    #[test]
    fn x_escapes_become_unicode_escapes() {
        let (fixed, n) = repair(br#"{"text": "a\x0Cb\x00"}"#);
        assert_eq!(&*fixed, br#"{"text": "a\u000Cb\u0000"}"#);
        assert_eq!(n, 2);
        let v: serde_json::Value = serde_json::from_slice(&fixed).expect("valid JSON now");
        assert_eq!(v["text"], "a\u{c}b\u{0}");
    }

    #[test]
    fn an_escaped_backslash_before_x_is_left_alone() {
        // `\\x41` is a literal backslash followed by "x41".
        let (fixed, n) = repair(br#"{"p": "C:\\x41 \\\x41"}"#);
        assert_eq!(&*fixed, br#"{"p": "C:\\x41 \\\u0041"}"#);
        assert_eq!(n, 1);
        let v: serde_json::Value = serde_json::from_slice(&fixed).expect("valid JSON");
        assert_eq!(v["p"], "C:\\x41 \\A");
    }

    #[test]
    fn clean_input_is_not_copied() {
        let (fixed, n) = repair(br#"{"a": "\n\"x"}"#);
        assert!(matches!(fixed, std::borrow::Cow::Borrowed(_)));
        assert_eq!(n, 0);
    }
}
