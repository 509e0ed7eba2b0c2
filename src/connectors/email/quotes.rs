//! Cutting the quoted history from replies: the thread in Matrix already shows it.

use std::sync::LazyLock;

use regex::Regex;

/// Lines (lower-cased) that introduce a quote: "on … wrote:", "le … a écrit :", "am … schrieb
/// …:", …
static ATTRIBUTION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^\s*(on\b.*\bwrote|le\b.*\ba écrit|am\b.*\bschrieb.*|el\b.*\bescribió|il\b.*\bha scritto|op\b.*\bschreef.*|em\b.*\bescreveu)\s*:\s*$",
    )
    .ok()
});

/// Separators (lower-cased) after which everything is the forwarded or quoted original.
static SEPARATOR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^\s*(-{2,}\s*(original message|message d'origine|ursprüngliche nachricht|mensaje original)\s*-{2,}|_{20,})\s*$").ok()
});

/// The text without its quoted history; the text itself if nothing but a quote would remain.
pub(super) fn trim_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let is_quote = |l: &str| l.trim_start().starts_with('>');
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let line = line.to_lowercase();
        if SEPARATOR.as_ref().is_some_and(|r| r.is_match(&line)) {
            end = i;
            break;
        }
        // An attribution counts only when what follows it is quoted (or nothing).
        if ATTRIBUTION.as_ref().is_some_and(|r| r.is_match(&line))
            && lines[i + 1..]
                .iter()
                .all(|l| l.trim().is_empty() || is_quote(l))
        {
            end = i;
            break;
        }
    }
    // A trailing block of quoted lines.
    while end > 0 && (lines[end - 1].trim().is_empty() || is_quote(lines[end - 1])) {
        end -= 1;
    }
    let kept = lines[..end].join("\n");
    if kept.trim().is_empty() {
        text.trim_end().to_owned()
    } else {
        kept.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attributed_quote_is_cut() {
        let mail = "Thanks, see you Monday.\n\nOn Mon, 3 Mar 2025 at 10:00, Alice <a@x.org> wrote:\n> Shall we meet?\n> A.\n";
        assert_eq!(trim_text(mail), "Thanks, see you Monday.");
    }

    #[test]
    fn french_and_german_attributions_are_cut() {
        let fr = "Merci.\nLe lun. 3 mars 2025 à 10:00, Alice <a@x.org> a écrit :\n> Bonjour\n";
        assert_eq!(trim_text(fr), "Merci.");
        let de = "Danke.\nAm 03.03.2025 um 10:00 schrieb Alice <a@x.org>:\n> Hallo\n";
        assert_eq!(trim_text(de), "Danke.");
    }

    #[test]
    fn an_outlook_original_message_is_cut() {
        let mail = "Agreed.\n\n-----Original Message-----\nFrom: Alice\nSubject: plan\n\nThe plan.";
        assert_eq!(trim_text(mail), "Agreed.");
    }

    #[test]
    fn interleaved_answers_are_kept() {
        let mail = "> Question one?\nAnswer one.\n> Question two?\nAnswer two.";
        assert_eq!(trim_text(mail), mail);
    }

    #[test]
    fn the_patterns_compile() {
        assert!(ATTRIBUTION.is_some() && SEPARATOR.is_some());
    }

    #[test]
    fn a_mail_that_is_only_a_quote_is_left_whole() {
        let mail = "> only quoted\n> text";
        assert_eq!(trim_text(mail), mail);
    }

    #[test]
    fn an_attribution_followed_by_new_text_is_not_a_quote() {
        let mail = "On Monday he wrote:\nthe report is ready.";
        assert_eq!(trim_text(mail), mail);
    }
}
