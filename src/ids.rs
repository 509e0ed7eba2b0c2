//! Ghost user ids: a reversible escaping of remote ids into Matrix localparts, and the
//! per-connector templates (`_sms_{id}`) that place them in passerelle's namespace.
//!
//! The escaping is the one in the Matrix specification's appendix ("Mapping from other
//! character sets"), in its case-preserving form, applied to the UTF-8 bytes of the remote id:
//! - `a`–`z`, `0`–`9`, `.`, `-`, `/` and `+` stay as they are;
//! - an upper-case `A`–`Z` becomes `_` followed by its lower-case form (`A` → `_a`);
//! - `_` becomes `__`;
//! - every other byte, `=` included, becomes `=` and two lower-case hex digits (`@` → `=40`).
//!
//! So `bob@example.org` → `bob=40example.org`, `+33612345678` stays `+33612345678`, and
//! `Alice_B` → `_alice___b`. The mapping is injective and [`unescape`] reverses it.

use std::fmt;

/// Longest user id the Matrix specification allows, in bytes.
pub const MAX_USER_ID_LEN: usize = 255;

/// Escapes a remote identifier into localpart characters.
pub fn escape(remote: &str) -> String {
    let mut out = String::with_capacity(remote.len());
    for b in remote.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'/' | b'+' => out.push(char::from(b)),
            b'A'..=b'Z' => {
                out.push('_');
                out.push(char::from(b.to_ascii_lowercase()));
            }
            b'_' => out.push_str("__"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push('=');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out
}

/// Reverses [`escape`]; `None` for a string `escape` cannot have produced.
pub fn unescape(escaped: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut input = escaped.bytes();
    while let Some(b) = input.next() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'/' | b'+' => bytes.push(b),
            b'_' => match input.next()? {
                b'_' => bytes.push(b'_'),
                c @ b'a'..=b'z' => bytes.push(c.to_ascii_uppercase()),
                _ => return None,
            },
            b'=' => {
                let hi = hex_value(input.next()?)?;
                let lo = hex_value(input.next()?)?;
                let byte = (hi << 4) | lo;
                // Bytes with their own spelling are never hex-escaped, except '='.
                if byte != b'=' && escape_is_plain(byte) {
                    return None;
                }
                bytes.push(byte);
            }
            _ => return None,
        }
    }
    String::from_utf8(bytes).ok()
}

fn escape_is_plain(b: u8) -> bool {
    matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'/' | b'+' | b'A'..=b'Z' | b'_')
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A connector's ghost localpart template, such as `_sms_{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhostTemplate {
    prefix: String,
    suffix: String,
}

/// Why a template or a remote id cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError(String);

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IdError {}

impl From<IdError> for String {
    fn from(e: IdError) -> Self {
        e.0
    }
}

impl GhostTemplate {
    /// Parses a template: exactly one `{id}`, localpart characters around it, a non-empty prefix.
    pub fn parse(template: &str) -> Result<Self, IdError> {
        let (prefix, suffix) = template.split_once("{id}").ok_or_else(|| {
            IdError(format!(
                "template `{template}` must contain `{{id}}`, e.g. `_sms_{{id}}`"
            ))
        })?;
        if suffix.contains("{id}") {
            return Err(IdError(format!(
                "template `{template}` must contain `{{id}}` only once"
            )));
        }
        if prefix.is_empty() {
            return Err(IdError(format!(
                "template `{template}` needs a prefix before `{{id}}` (e.g. `_sms_`) so ghosts have their own namespace"
            )));
        }
        let plain = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/+".contains(&b))
        };
        if !plain(prefix) || !plain(suffix) {
            return Err(IdError(format!(
                "template `{template}` may use only lower-case letters, digits and `._-/+` around `{{id}}`"
            )));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The fixed part before the remote id.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The ghost localpart for a remote id.
    pub fn localpart(&self, remote: &str) -> String {
        format!("{}{}{}", self.prefix, escape(remote), self.suffix)
    }

    /// The ghost user id on `server_name`, checked against the length limit.
    pub fn user_id(&self, remote: &str, server_name: &str) -> Result<String, IdError> {
        if remote.is_empty() {
            return Err(IdError("empty remote id".to_owned()));
        }
        let id = format!("@{}:{server_name}", self.localpart(remote));
        if id.len() > MAX_USER_ID_LEN {
            return Err(IdError(format!(
                "the ghost user id for this contact would be {} bytes, over Matrix's {MAX_USER_ID_LEN}",
                id.len()
            )));
        }
        Ok(id)
    }

    /// True if `localpart` is in this template's namespace.
    pub fn matches_localpart(&self, localpart: &str) -> bool {
        localpart.len() > self.prefix.len() + self.suffix.len()
            && localpart.starts_with(&self.prefix)
            && localpart.ends_with(&self.suffix)
    }

    /// The remote id behind a ghost localpart, if it is one of ours.
    pub fn remote_id(&self, localpart: &str) -> Option<String> {
        if !self.matches_localpart(localpart) {
            return None;
        }
        let inner = &localpart[self.prefix.len()..localpart.len() - self.suffix.len()];
        unescape(inner)
    }

    /// The exclusive user namespace regex for the registration file.
    pub fn namespace_regex(&self, server_name: &str) -> String {
        self.regex_with_sigil('@', server_name)
    }

    /// The exclusive alias namespace regex (rooms named after remote conversations).
    pub fn alias_regex(&self, server_name: &str) -> String {
        self.regex_with_sigil('#', server_name)
    }

    fn regex_with_sigil(&self, sigil: char, server_name: &str) -> String {
        format!(
            "{sigil}{}.+{}:{}",
            regex::escape(&self.prefix),
            regex::escape(&self.suffix),
            regex::escape(server_name)
        )
    }
}

/// Splits `@local:server` into its parts.
pub fn split_user_id(user_id: &str) -> Option<(&str, &str)> {
    user_id.strip_prefix('@')?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::{GhostTemplate, escape, unescape};

    #[test]
    fn escapes_as_the_spec_appendix_describes() {
        let cases = [
            ("bob@example.org", "bob=40example.org"),
            ("+33612345678", "+33612345678"),
            ("Alice_B", "_alice___b"),
            ("a=b", "a=3db"),
            ("á#", "=c3=a1=23"),
            (
                "room@conference.example.org/Nick",
                "room=40conference.example.org/_nick",
            ),
            ("x y'%;", "x=20y=27=25=3b"),
        ];
        for (raw, escaped) in cases {
            assert_eq!(escape(raw), escaped, "escape({raw:?})");
            assert_eq!(
                unescape(escaped).as_deref(),
                Some(raw),
                "unescape({escaped:?})"
            );
        }
    }

    #[test]
    fn rejects_strings_escape_never_produces() {
        for bad in [
            "_A", "_", "=4", "=zz", "=41", "=5f", "A", "a b", "=ff", "_1",
        ] {
            assert_eq!(unescape(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trips_every_byte_pattern() {
        // Every single char in the first 1024 code points, and pairs of interesting ones.
        let mut samples: Vec<String> = (0u32..1024)
            .filter_map(char::from_u32)
            .map(String::from)
            .collect();
        let specials = [
            "_", "=", "A", "a", "@", "+", "é", "😀", "\u{202e}", "\0", ":",
        ];
        for a in specials {
            for b in specials {
                samples.push(format!("{a}{b}"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &samples {
            let e = escape(s);
            assert!(
                crate::config::is_localpart(&e),
                "{s:?} -> {e:?} is not a localpart"
            );
            assert_eq!(unescape(&e).as_deref(), Some(s.as_str()));
            assert!(seen.insert(e), "two inputs escaped to the same localpart");
        }
    }

    #[test]
    fn templates_map_both_ways() {
        let t = GhostTemplate::parse("_sms_{id}").expect("valid");
        assert_eq!(
            t.user_id("+33612345678", "example.org").as_deref(),
            Ok("@_sms_+33612345678:example.org")
        );
        assert_eq!(
            t.remote_id("_sms_+33612345678").as_deref(),
            Some("+33612345678")
        );
        assert_eq!(t.remote_id("_email_bob"), None);
        assert_eq!(t.remote_id("_sms_"), None);
        assert_eq!(t.namespace_regex("example.org"), "@_sms_.+:example\\.org");
    }

    #[test]
    fn bad_templates_are_explained() {
        for bad in ["_sms_", "{id}", "_S_{id}", "_a_{id}{id}", "_a b_{id}"] {
            assert!(GhostTemplate::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn over_long_ids_are_refused() {
        let t = GhostTemplate::parse("_email_{id}").expect("valid");
        let long = "x".repeat(300);
        assert!(t.user_id(&long, "example.org").is_err());
        assert!(t.user_id("", "example.org").is_err());
    }
}
