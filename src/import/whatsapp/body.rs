//! The meaning of a WhatsApp message body: attachment, omitted media, deleted placeholder,
//! edited marker, or plain text. Only these control tokens are normalised; the text itself
//! stays verbatim apart from the leading LRM/RLM marks.

use std::sync::LazyLock;

use regex::Regex;

use super::header::strip_marks;
use crate::import::Kind;

/// What a body turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    pub(crate) kind: Kind,
    pub(crate) text: String,
    pub(crate) edited: bool,
    pub(crate) attachment: Option<String>,
    pub(crate) omitted: bool,
}

/// Suffixes WhatsApp appends to an edited message (en, fr, de, es, it, pt, nl).
const EDITED: &[&str] = &[
    "<This message was edited>",
    "<Ce message a été modifié>",
    "<Diese Nachricht wurde bearbeitet>",
    "<Se editó este mensaje.>",
    "<Questo messaggio è stato modificato>",
    "<Mensagem editada>",
    "<Dit bericht is bewerkt>",
];

/// Placeholders of deleted messages, without a final period (en, fr, de, es, it, pt, nl).
const DELETED: &[&str] = &[
    "This message was deleted",
    "You deleted this message",
    "Ce message a été supprimé",
    "Vous avez supprimé ce message",
    "Diese Nachricht wurde gelöscht",
    "Du hast diese Nachricht gelöscht",
    "Se eliminó este mensaje",
    "Eliminaste este mensaje",
    "Questo messaggio è stato eliminato",
    "Hai eliminato questo messaggio",
    "Esta mensagem foi apagada",
    "Você apagou esta mensagem",
    "Apagou esta mensagem",
    "Dit bericht is verwijderd",
    "Je hebt dit bericht verwijderd",
];

/// The deleted placeholders written when the exporter deleted their own message.
pub(crate) const DELETED_BY_EXPORTER: &[&str] = &[
    "You deleted this message",
    "Vous avez supprimé ce message",
    "Du hast diese Nachricht gelöscht",
    "Eliminaste este mensaje",
    "Hai eliminato questo messaggio",
    "Você apagou esta mensagem",
    "Apagou esta mensagem",
    "Je hebt dit bericht verwijderd",
];

/// Whole-line placeholders of media left out of the export (Android and iOS).
const OMITTED: &[&str] = &[
    // Android.
    "<Media omitted>",
    "<Médias omis>",
    "<Fichier omis>",
    "<Medien ausgeschlossen>",
    "<Multimedia omitido>",
    "<Media omessi>",
    "<Mídia oculta>",
    "<Arquivo de mídia oculto>",
    "<Media weggelaten>",
    // iOS.
    "image omitted",
    "video omitted",
    "audio omitted",
    "sticker omitted",
    "GIF omitted",
    "Contact card omitted",
    "image absente",
    "vidéo absente",
    "audio omis",
    "sticker omis",
    "GIF retiré",
    "Fiche contact manquante",
    "Bild weggelassen",
    "Video weggelassen",
    "Audio weggelassen",
    "Sticker weggelassen",
    "imagen omitida",
    "video omitido",
    "audio omitido",
    "sticker omitido",
    "immagine omessa",
    "video omesso",
    "audio omesso",
    "imagem ocultada",
    "vídeo ocultado",
    "áudio ocultado",
    "afbeelding weggelaten",
    "video weggelaten",
    "audio weggelaten",
];

/// iOS placeholders preceded by a document's name (`report.pdf ‎document omitted`).
const OMITTED_DOCUMENT: &[&str] = &[
    "document omitted",
    "document manquant",
    "Dokument weggelassen",
    "documento omitido",
    "documento omesso",
    "documento ocultado",
    "document weggelaten",
];

/// Android's suffix after an attached file's name (en, fr, de, es, it, pt, nl).
const ATTACHED_SUFFIX: &[&str] = &[
    " (file attached)",
    " (fichier joint)",
    " (Datei angehängt)",
    " (archivo adjunto)",
    " (file allegato)",
    " (arquivo anexado)",
    " (bestand bijgevoegd)",
];

/// iOS's `<attached: NAME>` token, in the listed languages.
static IOS_ATTACHED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"<(?:attached|pièce jointe|Anhang|adjunto|allegato|anexado|bijgevoegd)[ \x{A0}\x{202F}]?:[ \x{A0}\x{202F}]?([^>]+)>",
    )
    .unwrap_or_else(|e| panic!("the attachment pattern is valid: {e}"))
});

/// Removes every LRM/RLM mark: only ever applied to control tokens, never to kept text.
fn unmarked(s: &str) -> String {
    s.replace(['\u{200E}', '\u{200F}'], "")
}

/// Classifies a whole message body (its lines joined with `\n`).
pub(crate) fn classify(raw: &str) -> Body {
    let mut text = strip_marks(raw).to_owned();
    let mut edited = false;
    for marker in EDITED {
        let trimmed = text.trim_end();
        if let Some(before) = trimmed.strip_suffix(marker) {
            text = before
                .trim_end_matches(['\u{200E}', '\u{200F}'])
                .trim_end()
                .to_owned();
            edited = true;
            break;
        }
    }
    let (first, caption) = match text.split_once('\n') {
        Some((first, rest)) => (first, rest),
        None => (text.as_str(), ""),
    };
    let token = unmarked(first);
    let token = token.trim();
    let media = |attachment: Option<String>, omitted: bool| Body {
        kind: Kind::Media,
        text: caption.to_owned(),
        edited,
        attachment,
        omitted,
    };
    if caption.is_empty() && DELETED.contains(&token.trim_end_matches('.')) {
        return Body {
            kind: Kind::Deleted,
            text: text.clone(),
            edited,
            attachment: None,
            omitted: false,
        };
    }
    if OMITTED.contains(&token)
        || OMITTED_DOCUMENT.iter().any(|d| token.ends_with(d))
        || (token == "null" && caption.is_empty())
    {
        return media(None, true);
    }
    for suffix in ATTACHED_SUFFIX {
        if let Some(name) = token.strip_suffix(suffix) {
            return media(Some(name.trim().to_owned()), false);
        }
    }
    if let Some(caps) = IOS_ATTACHED.captures(token) {
        let name = caps.get(1).map_or("", |m| m.as_str()).trim();
        return media(Some(name.to_owned()), false);
    }
    if let Some(name) = token.strip_suffix("<attached>") {
        return media(Some(name.trim().to_owned()), false);
    }
    Body {
        kind: Kind::Text,
        text,
        edited,
        attachment: None,
        omitted: false,
    }
}

#[cfg(test)]
mod tests {
    use super::classify;
    use crate::import::Kind;

    fn check(raw: &str, kind: Kind, text: &str, edited: bool, file: Option<&str>, omitted: bool) {
        let b = classify(raw);
        assert_eq!(b.kind, kind, "{raw:?}");
        assert_eq!(b.text, text, "{raw:?}");
        assert_eq!(b.edited, edited, "{raw:?}");
        assert_eq!(b.attachment.as_deref(), file, "{raw:?}");
        assert_eq!(b.omitted, omitted, "{raw:?}");
    }

    #[test]
    fn android_attachments_in_every_language_keep_their_caption() {
        check(
            "IMG-20220323-WA0002.jpg (file attached)\nLook at this",
            Kind::Media,
            "Look at this",
            false,
            Some("IMG-20220323-WA0002.jpg"),
            false,
        );
        check(
            "\u{200E}PTT-20220323-WA0003.opus (bestand bijgevoegd)",
            Kind::Media,
            "",
            false,
            Some("PTT-20220323-WA0003.opus"),
            false,
        );
        check(
            "\u{200E}4f26a.jpg (Datei angehängt)",
            Kind::Media,
            "",
            false,
            Some("4f26a.jpg"),
            false,
        );
        check(
            "Annual report.pdf (fichier joint)",
            Kind::Media,
            "",
            false,
            Some("Annual report.pdf"),
            false,
        );
        check(
            "foto.jpg (archivo adjunto)",
            Kind::Media,
            "",
            false,
            Some("foto.jpg"),
            false,
        );
        check(
            "foto.jpg (file allegato)",
            Kind::Media,
            "",
            false,
            Some("foto.jpg"),
            false,
        );
        check(
            "foto.jpg (arquivo anexado)",
            Kind::Media,
            "",
            false,
            Some("foto.jpg"),
            false,
        );
    }

    #[test]
    fn ios_attachments_match_the_token_not_the_name() {
        check(
            "\u{200E}<attached: 00000035-PHOTO-2022-03-27-21-41-55.jpg>",
            Kind::Media,
            "",
            false,
            Some("00000035-PHOTO-2022-03-27-21-41-55.jpg"),
            false,
        );
        check(
            "Some file.txt \u{200E}<attached: 00000046-Some file.txt>",
            Kind::Media,
            "",
            false,
            Some("00000046-Some file.txt"),
            false,
        );
        check(
            "Resume.pdf • \u{200E}2 pages \u{200E}<attached: 00000047-Resume.pdf>",
            Kind::Media,
            "",
            false,
            Some("00000047-Resume.pdf"),
            false,
        );
        check(
            "2015-08-04-PHOTO-00004762.jpg <\u{200E}attached>",
            Kind::Media,
            "",
            false,
            Some("2015-08-04-PHOTO-00004762.jpg"),
            false,
        );
        check(
            "\u{200E}<pièce jointe: 00000001-PHOTO.jpg>",
            Kind::Media,
            "",
            false,
            Some("00000001-PHOTO.jpg"),
            false,
        );
    }

    #[test]
    fn omitted_media_placeholders() {
        for raw in [
            "<Media omitted>",
            "<Médias omis>",
            "<Fichier omis>",
            "<Medien ausgeschlossen>",
            "<Multimedia omitido>",
            "<Media omessi>",
            "<Mídia oculta>",
            "<Media weggelaten>",
            "\u{200E}image omitted",
            "\u{200E}video omitted",
            "audio omitted",
            "sticker omitted",
            "GIF omitted",
            "Contact card omitted",
            "Resume.pdf \u{200E}document omitted",
            "image absente",
            "vidéo absente",
            "audio omis",
            "sticker omis",
            "GIF retiré",
            "rapport.pdf \u{200E}document manquant",
            "Fiche contact manquante",
            "null",
        ] {
            check(raw, Kind::Media, "", false, None, true);
        }
    }

    #[test]
    fn deleted_placeholders_keep_the_export_wording() {
        check(
            "This message was deleted",
            Kind::Deleted,
            "This message was deleted",
            false,
            None,
            false,
        );
        check(
            "\u{200E}This message was deleted.",
            Kind::Deleted,
            "This message was deleted.",
            false,
            None,
            false,
        );
        check(
            "You deleted this message",
            Kind::Deleted,
            "You deleted this message",
            false,
            None,
            false,
        );
        check(
            "\u{200E}You deleted this message.",
            Kind::Deleted,
            "You deleted this message.",
            false,
            None,
            false,
        );
        check(
            "Ce message a été supprimé",
            Kind::Deleted,
            "Ce message a été supprimé",
            false,
            None,
            false,
        );
        check(
            "Vous avez supprimé ce message",
            Kind::Deleted,
            "Vous avez supprimé ce message",
            false,
            None,
            false,
        );
        check(
            "Diese Nachricht wurde gelöscht",
            Kind::Deleted,
            "Diese Nachricht wurde gelöscht",
            false,
            None,
            false,
        );
        check(
            "Dit bericht is verwijderd",
            Kind::Deleted,
            "Dit bericht is verwijderd",
            false,
            None,
            false,
        );
    }

    #[test]
    fn edited_markers_are_removed_and_flagged() {
        check(
            "sample message <This message was edited>",
            Kind::Text,
            "sample message",
            true,
            None,
            false,
        );
        check(
            "bonjour <Ce message a été modifié>",
            Kind::Text,
            "bonjour",
            true,
            None,
            false,
        );
        check(
            "line one\nline two \u{200E}<This message was edited>",
            Kind::Text,
            "line one\nline two",
            true,
            None,
            false,
        );
    }

    #[test]
    fn text_stays_verbatim_except_leading_marks() {
        check(
            "\u{200E}\u{200F}hello",
            Kind::Text,
            "hello",
            false,
            None,
            false,
        );
        check(
            "ﬁ ligature\u{202F}and \u{2068}@Ann\u{2069}",
            Kind::Text,
            "ﬁ ligature\u{202F}and \u{2068}@Ann\u{2069}",
            false,
            None,
            false,
        );
        check(
            "This message was deleted\nbut then I kept typing",
            Kind::Text,
            "This message was deleted\nbut then I kept typing",
            false,
            None,
            false,
        );
        check(
            "location: https://maps.google.com/?q=1,2",
            Kind::Text,
            "location: https://maps.google.com/?q=1,2",
            false,
            None,
            false,
        );
    }
}
