//! Room upgrades: portals follow a tombstone to its replacement room.

use ruma::{RoomId, UserId};
use serde_json::Value;

use super::{Runtime, events::Envelope, queues::Outcome};

impl Runtime {
    /// A room upgrade: the portal moves to the new room, but only if that room names this one
    /// as its predecessor (a forged tombstone must not redirect a conversation).
    pub(super) async fn handle_tombstone(&self, event: &Envelope) -> Outcome {
        let portal = match self.store.portal_by_room(&event.room_id).await {
            Ok(Some(p)) => p,
            Ok(None) => return Outcome::Skipped("not a portal room".into()),
            Err(e) => return e.into(),
        };
        let Some(new_room) = event
            .content
            .get("replacement_room")
            .and_then(Value::as_str)
        else {
            return Outcome::Skipped("tombstone without replacement_room".into());
        };
        let Ok(new_room) = RoomId::parse(new_room) else {
            return Outcome::Skipped("tombstone with an invalid replacement_room".into());
        };
        let Some(entry) = self.registry.by_name(&portal.connector) else {
            return Outcome::Skipped("connector not enabled".into());
        };
        let Ok(ghost) = self.portal_ghost(entry, &portal) else {
            return Outcome::Skipped("invalid ghost".into());
        };
        let Ok(ghost) = UserId::parse(ghost.as_str()) else {
            return Outcome::Skipped("invalid ghost".into());
        };
        if let Err(e) = self.matrix.join(&new_room, Some(&ghost)).await {
            return e.into();
        }
        let create = match self
            .matrix
            .state(&new_room, Some(&ghost), "m.room.create", "")
            .await
        {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let predecessor = create
            .pointer("/predecessor/room_id")
            .and_then(Value::as_str);
        if predecessor != Some(event.room_id.as_str()) {
            tracing::warn!(new_room = %new_room, ?predecessor, "Ignored a tombstone whose new room does not name this room as predecessor.");
            let _ = self.matrix.leave(&new_room, Some(&ghost)).await;
            return Outcome::Skipped(
                "replacement room does not name this room as its predecessor".into(),
            );
        }
        let moved = crate::store::Portal {
            room_id: new_room.to_string(),
            ..portal
        };
        if let Err(e) = self.store.delete_portal(&event.room_id).await {
            return e.into();
        }
        match self.store.insert_portal(&moved).await {
            Ok(_) => {
                tracing::info!(new_room = %new_room, "Portal followed a room upgrade.");
                Outcome::Done(Vec::new())
            }
            Err(e) => e.into(),
        }
    }
}
