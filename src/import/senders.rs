//! The sender map (`--map senders.yaml`): export senders → existing Matrix users.
//!
//! ```yaml
//! # Sender as shown in the dry run (or a Telegram from_id such as user123): Matrix user id.
//! "Dmitry S": "@dmitry:example.org"
//! user222: "@bob:example.org"
//! ```

use std::{collections::BTreeMap, path::Path};

use ruma::{OwnedUserId, UserId};

use super::{Export, ImportError};

/// Senders pointed to real Matrix users.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderMap(BTreeMap<String, OwnedUserId>);

impl SenderMap {
    /// Reads and checks a sender map file.
    pub fn load(path: &Path) -> Result<Self, ImportError> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ImportError(format!("{shown}: cannot read the sender map: {e}")))?;
        Self::parse(&text, &shown.to_string())
    }

    /// Parses a sender map; `file` names it in messages.
    pub fn parse(text: &str, file: &str) -> Result<Self, ImportError> {
        let raw: BTreeMap<String, String> = serde_norway::from_str(text).map_err(|e| {
            ImportError(format!(
                "{file}: not a sender map ({e}); write one `\"Sender name\": \"@user:server\"` line per sender"
            ))
        })?;
        let mut map = BTreeMap::new();
        for (sender, user) in raw {
            let user = UserId::parse(user.trim()).map_err(|e| {
                ImportError(format!(
                    "{file}: {sender:?} maps to {user:?}, which is not a Matrix user id ({e}); write it as @user:server"
                ))
            })?;
            map.insert(sender, user);
        }
        Ok(Self(map))
    }

    /// The Matrix user for a sender, looked up by stable id, then by name.
    pub fn get(&self, sender_id: &str, name: &str) -> Option<&UserId> {
        self.0
            .get(sender_id)
            .or_else(|| self.0.get(name))
            .map(|u| &**u)
    }

    /// Entries that match no sender of the export.
    pub fn unmatched(&self, export: &Export) -> Vec<&str> {
        self.0
            .keys()
            .filter(|k| {
                !export
                    .senders
                    .iter()
                    .any(|(id, name)| id == *k || name == *k)
            })
            .map(String::as_str)
            .collect()
    }

    /// Every mapped Matrix user, once.
    pub fn users(&self) -> Vec<&UserId> {
        let mut users: Vec<&UserId> = self.0.values().map(|u| &**u).collect();
        users.sort();
        users.dedup();
        users
    }
}

#[cfg(test)]
mod tests {
    use super::SenderMap;

    #[test]
    fn names_and_ids_map_to_users() {
        let map = SenderMap::parse(
            "\"Dmitry S\": \"@dmitry:example.org\"\nuser222: '@bob:example.org'\n",
            "senders.yaml",
        )
        .expect("parses");
        assert_eq!(
            map.get("Dmitry S", "Dmitry S").map(|u| u.as_str()),
            Some("@dmitry:example.org")
        );
        assert_eq!(
            map.get("user222", "Bob").map(|u| u.as_str()),
            Some("@bob:example.org")
        );
        assert_eq!(map.get("user9", "Eve"), None);
    }

    #[test]
    fn entries_matching_no_sender_are_listed() {
        let map = SenderMap::parse("Ann: \"@ann:x\"\nZed: \"@zed:x\"\n", "m.yaml").expect("parses");
        let o = crate::import::whatsapp::Options {
            timezone: "UTC".into(),
            ..Default::default()
        };
        let export = crate::import::whatsapp::parse("18/03/2022, 14:56 - Ann: hi\n", "c.txt", &o)
            .expect("parses");
        assert_eq!(map.unmatched(&export), vec!["Zed"]);
        assert_eq!(map.users().len(), 2);
    }

    #[test]
    fn a_bad_user_id_is_refused_naming_the_sender() {
        let e = SenderMap::parse("Ann: ann@example.org\n", "senders.yaml").expect_err("bad id");
        assert!(
            e.0.starts_with("senders.yaml: \"Ann\" maps to \"ann@example.org\""),
            "{e}"
        );
        let e = SenderMap::parse("- just a list\n", "senders.yaml").expect_err("not a map");
        assert!(e.0.contains("not a sender map"), "{e}");
    }
}
