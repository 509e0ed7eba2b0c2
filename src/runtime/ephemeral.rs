//! Typing notifications and read receipts, passed to connectors that support them.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Runtime, queues::Outcome};
use crate::{config::PermissionLevel, connector::Sender, store::InboxRow};

impl Runtime {
    /// Typing notifications and read receipts: best effort, never retried (they are
    /// ephemeral, and a late one is worse than none).
    pub(super) async fn handle_ephemeral(&self, row: &InboxRow) -> Outcome {
        let event: Value = match serde_json::from_str(&row.payload) {
            Ok(v) => v,
            Err(e) => return Outcome::Skipped(format!("malformed ephemeral event: {e}")),
        };
        let portal = match self.store.portal_by_room(&row.room_id).await {
            Ok(Some(p)) => p,
            Ok(None) => return Outcome::Skipped("not a portal room".into()),
            Err(e) => return e.into(),
        };
        let Some(entry) = self.registry.by_name(&portal.connector) else {
            return Outcome::Skipped("connector not enabled".into());
        };
        let allowed = |user: &str| {
            user != self.bot.as_str()
                && !self.registry.is_ghost_namespace(user, self.server_name())
                && self.permissions.level(user) >= PermissionLevel::Relay
        };
        match event.get("type").and_then(Value::as_str) {
            Some("m.typing") => {
                let Some(typing) = entry.connector.typing() else {
                    return Outcome::Skipped("the network has no typing notifications".into());
                };
                let now: BTreeSet<String> = event
                    .pointer("/content/user_ids")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|u| allowed(u))
                    .map(str::to_owned)
                    .collect();
                let before = match self.typing.lock() {
                    Ok(mut map) => map
                        .insert(row.room_id.clone(), now.clone())
                        .unwrap_or_default(),
                    Err(_) => BTreeSet::new(),
                };
                for (user, state) in now
                    .difference(&before)
                    .map(|u| (u, true))
                    .chain(before.difference(&now).map(|u| (u, false)))
                {
                    let sender = Sender {
                        user_id: user.clone(),
                        display_name: None,
                    };
                    if let Err(e) = typing.typing(&portal.conversation, &sender, state).await {
                        tracing::debug!(error = %e, "Typing notification not delivered.");
                    }
                }
                Outcome::Done(Vec::new())
            }
            Some("m.receipt") => {
                let Some(receipts) = entry.connector.receipts() else {
                    return Outcome::Skipped("the network has no read receipts".into());
                };
                let Some(content) = event.get("content").and_then(Value::as_object) else {
                    return Outcome::Skipped("receipt without content".into());
                };
                for (event_id, by_type) in content {
                    let Some(readers) = by_type.get("m.read").and_then(Value::as_object) else {
                        continue;
                    };
                    let Ok(Some(mapping)) = self.store.message_by_event(event_id).await else {
                        continue;
                    };
                    if mapping.room_id != row.room_id {
                        continue;
                    }
                    for user in readers.keys().filter(|u| allowed(u)) {
                        let sender = Sender {
                            user_id: user.clone(),
                            display_name: None,
                        };
                        if let Err(e) = receipts
                            .read(&portal.conversation, &mapping.remote_id, &sender)
                            .await
                        {
                            tracing::debug!(error = %e, "Read receipt not delivered.");
                        }
                    }
                }
                Outcome::Done(Vec::new())
            }
            other => Outcome::Skipped(format!("ephemeral event {other:?} not bridged")),
        }
    }
}
