//! SMS text encodings and segment counting: the GSM 03.38 default alphabet (with its escape
//! table), UCS-2 (UTF-16BE), and how many SMS a text takes.
//!
//! A single SMS carries 140 octets: 160 GSM septets or 70 UTF-16 units. A concatenated message
//! loses 6 octets per part to its header (UDH), leaving 153 septets or 67 units. A character
//! of the escape table (`€ [ ] { } ~ \ | ^` and form feed) takes two septets, and an emoji
//! takes two UTF-16 units (a surrogate pair); neither pair is ever split across parts.

/// The GSM 03.38 default alphabet, indexed by septet.
const GSM_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1b}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The escape character that introduces the extension table.
const ESCAPE: u8 = 0x1b;

/// The extension table: (septet after the escape, character).
const GSM_EXTENSION: [(u8, char); 10] = [
    (0x0a, '\u{0c}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2f, '\\'),
    (0x3c, '['),
    (0x3d, '~'),
    (0x3e, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// Septets of one SMS / one part of a concatenated SMS, in the GSM alphabet.
pub(crate) const GSM_SINGLE: usize = 160;
/// Septets per part of a concatenated GSM message.
pub(crate) const GSM_PART: usize = 153;
/// UTF-16 units of one UCS-2 SMS.
pub(crate) const UCS2_SINGLE: usize = 70;
/// UTF-16 units per part of a concatenated UCS-2 message.
pub(crate) const UCS2_PART: usize = 67;

/// How a text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// GSM 03.38 default alphabet (7-bit).
    Gsm7,
    /// UCS-2 / UTF-16BE.
    Ucs2,
}

/// The septets of one character (1, or 2 for the extension table), if the alphabet has it.
fn gsm_char(c: char) -> Option<([u8; 2], usize)> {
    if c == '\u{1b}' {
        return None; // The escape itself is not text.
    }
    if let Some(i) = GSM_BASIC.iter().position(|&g| g == c) {
        return u8::try_from(i).ok().map(|s| ([s, 0], 1));
    }
    GSM_EXTENSION
        .iter()
        .find(|(_, g)| *g == c)
        .map(|(s, _)| ([ESCAPE, *s], 2))
}

/// Encodes `text` as unpacked GSM septets (one per octet), or `None` if a character is not
/// in the default alphabet or its extension table.
pub(crate) fn gsm_encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        let (septets, n) = gsm_char(c)?;
        out.extend_from_slice(&septets[..n]);
    }
    Some(out)
}

/// Decodes unpacked GSM septets; an unknown escape sequence becomes a space, as the
/// specification recommends, and octets above 0x7f are replaced with `?`.
pub(crate) fn gsm_decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut iter = septets.iter();
    while let Some(&s) = iter.next() {
        if s == ESCAPE {
            let Some(&next) = iter.next() else { break };
            let c = GSM_EXTENSION
                .iter()
                .find(|(code, _)| *code == next)
                .map_or(' ', |(_, c)| *c);
            out.push(c);
        } else {
            out.push(GSM_BASIC.get(usize::from(s)).copied().unwrap_or('?'));
        }
    }
    out
}

/// Encodes `text` as UTF-16BE (characters beyond the BMP as surrogate pairs).
pub(crate) fn ucs2_encode(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Decodes UTF-16BE; unpaired surrogates and a trailing odd octet become U+FFFD.
pub(crate) fn ucs2_decode(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks(2)
        .map(|c| match c {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            _ => 0xfffd,
        })
        .collect();
    String::from_utf16_lossy(&units)
}

/// How a text goes out: its coding and its parts (one string per SMS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The coding every part uses.
    pub(crate) coding: Coding,
    /// The text of each SMS, in order; concatenated they give the whole text.
    pub(crate) parts: Vec<String>,
}

impl Plan {
    /// The number of SMS the text takes.
    pub(crate) fn segments(&self) -> usize {
        self.parts.len()
    }
}

/// Chooses the coding (GSM when every character has it, else UCS-2) and splits `text` into
/// SMS parts without cutting an escape pair or a surrogate pair.
pub(crate) fn plan(text: &str) -> Plan {
    split(text, true)
}

/// Like [`plan`], but always in UCS-2 (for gateways that take only part of the GSM alphabet).
pub(crate) fn plan_ucs2(text: &str) -> Plan {
    split(text, false)
}

fn split(text: &str, allow_gsm: bool) -> Plan {
    let gsm: Option<Vec<usize>> = if allow_gsm {
        text.chars().map(|c| gsm_char(c).map(|(_, n)| n)).collect()
    } else {
        None
    };
    let (coding, widths, single, part) = match gsm {
        Some(widths) => (Coding::Gsm7, widths, GSM_SINGLE, GSM_PART),
        None => (
            Coding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            UCS2_SINGLE,
            UCS2_PART,
        ),
    };
    let total: usize = widths.iter().sum();
    if total <= single {
        return Plan {
            coding,
            parts: vec![text.to_owned()],
        };
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for (c, width) in text.chars().zip(widths) {
        if used + width > part {
            parts.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(c);
        used += width;
    }
    if !current.is_empty() {
        parts.push(current);
    }
    Plan { coding, parts }
}

#[cfg(test)]
mod tests {
    use super::{Coding, gsm_decode, gsm_encode, plan, ucs2_decode, ucs2_encode};

    #[test]
    fn gsm_encodes_the_basic_table_and_escapes_the_extension_table() {
        assert_eq!(gsm_encode("@£$"), Some(vec![0x00, 0x01, 0x02]));
        assert_eq!(gsm_encode("Hi!"), Some(vec![0x48, 0x69, 0x21]));
        assert_eq!(gsm_encode("é€"), Some(vec![0x05, 0x1b, 0x65]));
        assert_eq!(
            gsm_encode("[]{}~\\|^"),
            Some(vec![
                0x1b, 0x3c, 0x1b, 0x3e, 0x1b, 0x28, 0x1b, 0x29, 0x1b, 0x3d, 0x1b, 0x2f, 0x1b, 0x40,
                0x1b, 0x14
            ])
        );
        assert_eq!(
            gsm_encode("Ωß¿à\n"),
            Some(vec![0x15, 0x1e, 0x60, 0x7f, 0x0a])
        );
        assert_eq!(gsm_encode("ç"), None, "only capital Ç is in the alphabet");
        assert_eq!(gsm_encode("😀"), None);
        assert_eq!(gsm_encode("\u{1b}"), None);
    }

    #[test]
    fn gsm_round_trips_and_decodes_unknown_escapes_as_space() {
        let text = "Prix: 5€ [promo] {x} ~ \\ | ^ @ Δ Ñ ü";
        let septets = gsm_encode(text).expect("all GSM");
        assert_eq!(gsm_decode(&septets), text);
        assert_eq!(gsm_decode(&[0x41, 0x1b, 0x00, 0x42]), "A B");
        assert_eq!(gsm_decode(&[0x41, 0x1b]), "A");
        assert_eq!(gsm_decode(&[0x80]), "?");
    }

    #[test]
    fn ucs2_is_utf16_big_endian_with_surrogate_pairs() {
        assert_eq!(ucs2_encode("aé"), vec![0x00, 0x61, 0x00, 0xe9]);
        assert_eq!(ucs2_encode("😀"), vec![0xd8, 0x3d, 0xde, 0x00]);
        assert_eq!(ucs2_decode(&[0xd8, 0x3d, 0xde, 0x00, 0x00, 0x21]), "😀!");
        assert_eq!(ucs2_decode(&[0xd8, 0x3d]), "\u{fffd}");
        assert_eq!(ucs2_decode(&[0x00]), "\u{fffd}");
    }

    #[test]
    fn gsm_texts_take_160_septets_then_153_per_part() {
        assert_eq!(plan("").segments(), 1);
        assert_eq!(plan(&"a".repeat(160)).segments(), 1);
        let p = plan(&"a".repeat(161));
        assert_eq!((p.coding, p.segments()), (Coding::Gsm7, 2));
        assert_eq!(p.parts[0].len(), 153);
        assert_eq!(plan(&"a".repeat(306)).segments(), 2);
        assert_eq!(plan(&"a".repeat(307)).segments(), 3);
        assert_eq!(plan(&"a".repeat(300)).segments(), 2);
    }

    #[test]
    fn escape_characters_count_two_septets_and_are_never_split() {
        // 80 euro signs are exactly 160 septets: one SMS.
        assert_eq!(plan(&"€".repeat(80)).segments(), 1);
        assert_eq!(plan(&"€".repeat(81)).segments(), 2);
        // 152 septets, then a euro sign that would straddle the part boundary.
        let text = format!("{}€bbbbbbb", "a".repeat(152));
        let p = plan(&text);
        assert_eq!(p.coding, Coding::Gsm7);
        assert_eq!(p.parts, vec!["a".repeat(152), "€bbbbbbb".to_owned()]);
        assert_eq!(p.parts.concat(), text);
    }

    #[test]
    fn ucs2_texts_take_70_units_then_67_and_keep_surrogate_pairs_whole() {
        assert_eq!(
            plan("é😀").coding,
            Coding::Ucs2,
            "one emoji makes it all UCS-2"
        );
        let p = plan(&"ç".repeat(70));
        assert_eq!((p.coding, p.segments()), (Coding::Ucs2, 1));
        assert_eq!(plan(&"ç".repeat(71)).segments(), 2);
        assert_eq!(plan(&"ç".repeat(134)).segments(), 2);
        assert_eq!(plan(&"ç".repeat(135)).segments(), 3);
        // 35 emoji are 70 units: one SMS; 36 are two.
        assert_eq!(plan(&"😀".repeat(35)).segments(), 1);
        let p = plan(&"😀".repeat(36));
        assert_eq!(p.segments(), 2);
        // 67 is odd: the first part holds 33 emoji (66 units), never half a pair.
        assert_eq!(p.parts[0].chars().count(), 33);
        assert_eq!(p.parts.concat(), "😀".repeat(36));
        // Forced UCS-2: a GSM-only text counts in 70/67 units.
        let p = super::plan_ucs2(&"a".repeat(71));
        assert_eq!((p.coding, p.segments()), (Coding::Ucs2, 2));
    }
}
