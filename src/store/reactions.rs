//! Reactions known on both sides, keyed by the remote message they annotate.

use sqlx::Row;

use super::{Result, Store, now_ms};

/// One person's reaction with one key on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// The connector.
    pub connector: String,
    /// Remote id of the message reacted to.
    pub target: String,
    /// Who reacted: a Matrix user id, or a remote contact id.
    pub sender: String,
    /// The reaction (usually one emoji).
    pub key: String,
    /// The Matrix room.
    pub room_id: String,
    /// The Matrix `m.reaction` event, once it exists.
    pub event_id: Option<String>,
}

impl Store {
    /// Records a reaction (or its Matrix event id, once known).
    pub async fn upsert_reaction(&self, r: &Reaction) -> Result<()> {
        sqlx::query(
            "INSERT INTO reactions (connector, target, sender, reaction_key, room_id, event_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (connector, target, sender, reaction_key) DO UPDATE SET event_id = excluded.event_id",
        )
        .bind(&r.connector)
        .bind(&r.target)
        .bind(&r.sender)
        .bind(&r.key)
        .bind(&r.room_id)
        .bind(&r.event_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every reaction of `sender` on `target`.
    pub async fn reactions_of(
        &self,
        connector: &str,
        target: &str,
        sender: &str,
    ) -> Result<Vec<Reaction>> {
        let rows = sqlx::query(
            "SELECT connector, target, sender, reaction_key, room_id, event_id FROM reactions \
             WHERE connector = $1 AND target = $2 AND sender = $3 ORDER BY created_at, reaction_key",
        )
        .bind(connector)
        .bind(target)
        .bind(sender)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Reaction {
                    connector: r.try_get(0)?,
                    target: r.try_get(1)?,
                    sender: r.try_get(2)?,
                    key: r.try_get(3)?,
                    room_id: r.try_get(4)?,
                    event_id: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// The reaction whose Matrix event is `event_id`.
    pub async fn reaction_by_event(&self, event_id: &str) -> Result<Option<Reaction>> {
        let row = sqlx::query(
            "SELECT connector, target, sender, reaction_key, room_id, event_id FROM reactions WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Reaction {
                connector: r.try_get(0)?,
                target: r.try_get(1)?,
                sender: r.try_get(2)?,
                key: r.try_get(3)?,
                room_id: r.try_get(4)?,
                event_id: r.try_get(5)?,
            })
        })
        .transpose()
    }

    /// Forgets one reaction.
    pub async fn delete_reaction(
        &self,
        connector: &str,
        target: &str,
        sender: &str,
        key: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM reactions WHERE connector = $1 AND target = $2 AND sender = $3 AND reaction_key = $4",
        )
        .bind(connector)
        .bind(target)
        .bind(sender)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Reaction;
    use crate::store::temp_store;

    #[tokio::test]
    async fn a_senders_reaction_set_is_tracked() {
        let (_dir, store) = temp_store().await;
        let mut r = Reaction {
            connector: "xmpp".into(),
            target: "m1".into(),
            sender: "bob@x".into(),
            key: "👍".into(),
            room_id: "!r".into(),
            event_id: None,
        };
        store.upsert_reaction(&r).await.expect("insert");
        r.event_id = Some("$e1".into());
        store.upsert_reaction(&r).await.expect("set event");
        let heart = Reaction {
            key: "❤".into(),
            event_id: Some("$e2".into()),
            ..r.clone()
        };
        store.upsert_reaction(&heart).await.expect("insert");
        let keys: Vec<_> = store
            .reactions_of("xmpp", "m1", "bob@x")
            .await
            .expect("list")
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            store
                .reaction_by_event("$e2")
                .await
                .expect("get")
                .map(|r| r.key)
                .as_deref(),
            Some("❤")
        );
        store
            .delete_reaction("xmpp", "m1", "bob@x", "👍")
            .await
            .expect("delete");
        assert_eq!(
            store
                .reactions_of("xmpp", "m1", "bob@x")
                .await
                .expect("list"),
            vec![heart]
        );
    }
}
