//! Email addresses as remote ids, and conversations: one correspondent (a direct chat) or
//! several (a group, named by its sorted addresses joined with commas).

use std::collections::BTreeSet;

/// Canonical form of an address (trimmed, lower-case), or why it is not one.
pub(super) fn normalize(input: &str) -> Result<String, String> {
    let trimmed = input.trim().trim_start_matches("mailto:");
    let lowered = trimmed.to_lowercase();
    match lowered.parse::<lettre::Address>() {
        Ok(address) => Ok(address.to_string()),
        Err(_) => Err(format!(
            "`{trimmed}` is not an email address like name@example.org"
        )),
    }
}

/// The conversation of a set of correspondents; `None` for none.
pub(super) fn conversation<'a>(
    correspondents: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let set: BTreeSet<&str> = correspondents.into_iter().collect();
    if set.is_empty() {
        return None;
    }
    Some(set.into_iter().collect::<Vec<_>>().join(","))
}

/// The correspondents of a conversation.
pub(super) fn members(conversation: &str) -> impl Iterator<Item = &str> {
    conversation.split(',').filter(|a| !a.is_empty())
}

/// True for a conversation with several correspondents.
pub(super) fn is_group(conversation: &str) -> bool {
    conversation.contains(',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lower_cased_and_checked() {
        assert_eq!(
            normalize(" Alice.Martin@Example.ORG "),
            Ok("alice.martin@example.org".to_owned())
        );
        assert_eq!(
            normalize("mailto:bob@example.org"),
            Ok("bob@example.org".to_owned())
        );
        assert!(normalize("not an address").is_err());
        assert!(normalize("a@b@c").is_err());
        assert!(normalize("bob@example.org\r\nBcc: x@evil.example").is_err());
    }

    #[test]
    fn conversations_are_sorted_sets() {
        assert_eq!(conversation(["b@x.org"]), Some("b@x.org".to_owned()));
        assert_eq!(
            conversation(["c@x.org", "a@x.org", "c@x.org"]),
            Some("a@x.org,c@x.org".to_owned())
        );
        assert_eq!(conversation([]), None);
        assert!(is_group("a@x.org,c@x.org"));
        assert!(!is_group("a@x.org"));
        assert_eq!(
            members("a@x.org,c@x.org").collect::<Vec<_>>(),
            ["a@x.org", "c@x.org"]
        );
    }
}
