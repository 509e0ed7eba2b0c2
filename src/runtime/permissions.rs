//! Who may use the bridge: the most specific of user id, server name and `"*"` wins.

use std::collections::BTreeMap;

use crate::{config::PermissionLevel, ids::split_user_id};

/// The configured permission table.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    table: BTreeMap<String, PermissionLevel>,
}

impl Permissions {
    /// Builds the table from the `permissions` section.
    pub fn new(table: &BTreeMap<String, PermissionLevel>) -> Self {
        Self {
            table: table.clone(),
        }
    }

    /// The level of `user_id`: its own entry, else its server's, else `"*"`, else `block`.
    pub fn level(&self, user_id: &str) -> PermissionLevel {
        if let Some(level) = self.table.get(user_id) {
            return *level;
        }
        if let Some((_, server)) = split_user_id(user_id)
            && let Some(level) = self.table.get(server)
        {
            return *level;
        }
        self.table
            .get("*")
            .copied()
            .unwrap_or(PermissionLevel::Block)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::Permissions;
    use crate::config::PermissionLevel::{Admin, Block, Relay, User};

    #[test]
    fn most_specific_entry_wins_and_unknown_users_are_blocked() {
        let p = Permissions::new(&BTreeMap::from([
            ("example.org".to_owned(), User),
            ("@boss:example.org".to_owned(), Admin),
            ("@intern:example.org".to_owned(), Block),
            ("partner.org".to_owned(), Relay),
        ]));
        assert_eq!(p.level("@boss:example.org"), Admin);
        assert_eq!(p.level("@anyone:example.org"), User);
        assert_eq!(p.level("@intern:example.org"), Block);
        assert_eq!(p.level("@x:partner.org"), Relay);
        assert_eq!(p.level("@x:elsewhere.net"), Block);
        let open = Permissions::new(&BTreeMap::from([("*".to_owned(), Relay)]));
        assert_eq!(open.level("@x:elsewhere.net"), Relay);
        assert_eq!(Permissions::default().level("@x:y"), Block);
    }
}
