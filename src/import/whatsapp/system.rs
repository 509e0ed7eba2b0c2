//! Subtypes of WhatsApp system lines, from their wording (English and French). System lines
//! are found structurally; these templates only name them for the report, and a line matching
//! none is kept verbatim and reported.

/// (subtype, phrases any of which identifies it), checked in order.
const TEMPLATES: &[(&str, &[&str])] = &[
    (
        "encryption",
        &[
            "end-to-end encrypted",
            "end-to-end encryption",
            "chiffrés de bout en bout",
            "chiffrement de bout en bout",
        ],
    ),
    (
        "security_code",
        &["security code with", "code de sécurité avec"],
    ),
    (
        "group_created",
        &["created group", "a créé le groupe", "avez créé le groupe"],
    ),
    (
        "subject_changed",
        &[
            "changed the subject",
            "a modifié le sujet",
            "a changé le sujet",
        ],
    ),
    (
        "icon_changed",
        &[
            "changed this group's icon",
            "a changé l'icône",
            "a modifié l'icône",
        ],
    ),
    (
        "description_changed",
        &["changed the group description", "a modifié la description"],
    ),
    (
        "settings_changed",
        &["changed this group's settings", "a modifié les paramètres"],
    ),
    ("timer_changed", &["message timer", "messages éphémères"]),
    (
        "member_joined",
        &[
            "joined using this group's invite link",
            "a rejoint via le lien d'invitation",
        ],
    ),
    (
        "member_added",
        &[" added ", " added you", " a ajouté ", " vous a ajouté"],
    ),
    ("member_removed", &[" removed ", " a retiré "]),
    (
        "member_left",
        &[" left", "You left", " est parti", " a quitté"],
    ),
    ("number_changed", &[" changed to ", " a changé de numéro"]),
];

/// The subtype of a system line, or `None` for a line no template knows.
pub(crate) fn subtype(body: &str) -> Option<&'static str> {
    let padded = format!("{body} ");
    TEMPLATES
        .iter()
        .find(|(_, phrases)| {
            phrases
                .iter()
                .any(|p| body.contains(p) || padded.contains(p))
        })
        .map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::subtype;

    #[test]
    #[rustfmt::skip]
    fn reference_strings_get_their_subtype() {
        let cases = [
            ("Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more.", Some("encryption")),
            ("Messages you send to this group are now secured with end-to-end encryption. Tap for more info.", Some("encryption")),
            ("Les messages et les appels sont chiffrés de bout en bout. Aucun tiers, pas même WhatsApp, ne peut les lire ou les écouter. Appuyez pour en savoir plus.", Some("encryption")),
            ("Dmitry S created group \"Trip: 2022\"", Some("group_created")),
            ("You created group \"Trip\"", Some("group_created")),
            ("Ali created group “Trip”", Some("group_created")),
            ("Dmitry S added you", Some("member_added")),
            ("Dmitry S added Ann", Some("member_added")),
            ("Marie a ajouté Paul", Some("member_added")),
            ("Dmitry S removed Ann", Some("member_removed")),
            ("Ann left", Some("member_left")),
            ("You left", Some("member_left")),
            ("Ann joined using this group's invite link", Some("member_joined")),
            ("Paul a rejoint via le lien d'invitation", Some("member_joined")),
            ("X changed the subject from \"A: B\" to \"C\"", Some("subject_changed")),
            ("X changed this group's icon", Some("icon_changed")),
            ("X changed the group description", Some("description_changed")),
            ("+44 7700 900123 changed to +44 7700 900456", Some("number_changed")),
            ("Your security code with Ann changed. Tap to learn more.", Some("security_code")),
            ("Votre code de sécurité avec Ann a changé. Appuyez pour en savoir plus.", Some("security_code")),
            ("You updated the message timer. New messages will disappear from this chat 24 hours after they're sent. Tap to change.", Some("timer_changed")),
            ("Something WhatsApp will say next year", None),
        ];
        for (line, expected) in cases {
            assert_eq!(subtype(line), expected, "{line}");
        }
    }
}
