//! Reactions and deletions made in Matrix, passed on to networks that support them.

use serde_json::Value;

use super::{
    Runtime,
    events::Envelope,
    outbox::{RemoteAction, RemoteMessage, notice, to_remote},
    queues::Outcome,
};
use crate::{
    config::PermissionLevel,
    connector::Sender,
    connectors::Entry,
    store::{Portal, Reaction},
};

impl Runtime {
    /// The portal, connector and ghost of a relation event's room, if it may be bridged.
    async fn relation_context(
        &self,
        event: &Envelope,
    ) -> Result<(Portal, &Entry, String), Outcome> {
        let portal = match self.store.portal_by_room(&event.room_id).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(Outcome::Skipped("not a portal room".into())),
            Err(e) => return Err(e.into()),
        };
        let Some(entry) = self.registry.by_name(&portal.connector) else {
            return Err(Outcome::Skipped("connector not enabled".into()));
        };
        if self.permissions.level(&event.sender) < PermissionLevel::Relay {
            return Err(Outcome::Skipped("sender may not use the bridge".into()));
        }
        let ghost = self
            .portal_ghost(entry, &portal)
            .map_err(|e| Outcome::Skipped(e.to_string()))?;
        Ok((portal, entry, ghost))
    }

    fn action(
        &self,
        event: &Envelope,
        portal: &Portal,
        ghost: &str,
        body: String,
        action: RemoteAction,
    ) -> Outcome {
        let message = RemoteMessage {
            conversation: portal.conversation.clone(),
            event_id: event.event_id.clone(),
            sender: Sender {
                user_id: event.sender.clone(),
                display_name: None,
            },
            body,
            html: None,
            msgtype: "m.text".into(),
            reply_to: None,
            reply_quote: None,
            edit_of: None,
            thread_root: None,
            ghost: ghost.to_owned(),
            attachment: None,
            action,
        };
        Outcome::Done(vec![to_remote(&event.room_id, &portal.connector, message)])
    }

    pub(super) async fn handle_reaction(&self, event: &Envelope) -> Outcome {
        let (portal, entry, ghost) = match self.relation_context(event).await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let relation = event.content.get("m.relates_to");
        let (Some(target_event), Some(key)) = (
            relation
                .and_then(|r| r.get("event_id"))
                .and_then(Value::as_str),
            relation.and_then(|r| r.get("key")).and_then(Value::as_str),
        ) else {
            return Outcome::Skipped("reaction without a target or key".into());
        };
        let target = match self.store.message_by_event(target_event).await {
            Ok(Some(m)) if m.room_id == event.room_id && m.connector == portal.connector => {
                m.remote_id
            }
            Ok(_) => return Outcome::Skipped("reaction to a message that was not bridged".into()),
            Err(e) => return e.into(),
        };
        if entry.connector.reactions().is_none() {
            // Said in words where the network has no reactions.
            let text = format!("{key} (reaction to an earlier message)");
            return self.action(event, &portal, &ghost, text, RemoteAction::Message);
        }
        let reaction = Reaction {
            connector: portal.connector.clone(),
            target: target.clone(),
            sender: event.sender.clone(),
            key: key.to_owned(),
            room_id: event.room_id.clone(),
            event_id: Some(event.event_id.clone()),
        };
        if let Err(e) = self.store.upsert_reaction(&reaction).await {
            return e.into();
        }
        self.react(event, &portal, &ghost, target).await
    }

    /// Queues the sender's whole current reaction set on `target`.
    async fn react(
        &self,
        event: &Envelope,
        portal: &Portal,
        ghost: &str,
        target: String,
    ) -> Outcome {
        let keys = match self
            .store
            .reactions_of(&portal.connector, &target, &event.sender)
            .await
        {
            Ok(list) => list.into_iter().map(|r| r.key).collect(),
            Err(e) => return e.into(),
        };
        self.action(
            event,
            portal,
            ghost,
            String::new(),
            RemoteAction::React { target, keys },
        )
    }

    pub(super) async fn handle_redaction(&self, event: &Envelope) -> Outcome {
        let Some(redacts) = event.redacts.clone().or_else(|| {
            event
                .content
                .get("redacts")
                .and_then(Value::as_str)
                .map(str::to_owned)
        }) else {
            return Outcome::Skipped("redaction without a target".into());
        };
        let (portal, entry, ghost) = match self.relation_context(event).await {
            Ok(c) => c,
            Err(o) => return o,
        };
        match self.store.reaction_by_event(&redacts).await {
            Ok(Some(r)) if r.sender == event.sender && r.room_id == event.room_id => {
                if let Err(e) = self
                    .store
                    .delete_reaction(&r.connector, &r.target, &r.sender, &r.key)
                    .await
                {
                    return e.into();
                }
                return self.react(event, &portal, &ghost, r.target).await;
            }
            Ok(_) => {}
            Err(e) => return e.into(),
        }
        let original = match self.store.message_by_event(&redacts).await {
            Ok(Some(m)) if m.room_id == event.room_id && m.sender == event.sender => m,
            Ok(_) => {
                return Outcome::Skipped(
                    "deletion of a message not sent from Matrix by its author".into(),
                );
            }
            Err(e) => return e.into(),
        };
        if entry.connector.redactions().is_none() {
            let text = format!(
                "⚠ The {} network cannot delete messages: the contact still has it.",
                portal.connector
            );
            return Outcome::Done(vec![notice(
                &event.room_id,
                Some(&ghost),
                &text,
                Some(&event.event_id),
            )]);
        }
        self.action(
            event,
            &portal,
            &ghost,
            String::new(),
            RemoteAction::Retract {
                target: original.remote_id,
            },
        )
    }
}
