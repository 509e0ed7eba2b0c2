//! Portals: Matrix rooms linked to remote conversations.

use sqlx::{Row, sqlite::SqliteRow};

use super::{Result, Store, now_ms};

/// A Matrix room linked to one remote conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Portal {
    /// The connector.
    pub connector: String,
    /// The remote conversation id (a contact for direct chats).
    pub conversation: String,
    /// The Matrix room.
    pub room_id: String,
}

fn from_row(r: &SqliteRow) -> Result<Portal> {
    Ok(Portal {
        connector: r.try_get(0)?,
        conversation: r.try_get(1)?,
        room_id: r.try_get(2)?,
    })
}

impl Store {
    /// The portal of a Matrix room.
    pub async fn portal_by_room(&self, room_id: &str) -> Result<Option<Portal>> {
        sqlx::query("SELECT connector, conversation, room_id FROM portals WHERE room_id = $1")
            .bind(room_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// The portal of a remote conversation.
    pub async fn portal_by_conversation(
        &self,
        connector: &str,
        conversation: &str,
    ) -> Result<Option<Portal>> {
        sqlx::query("SELECT connector, conversation, room_id FROM portals WHERE connector = $1 AND conversation = $2")
            .bind(connector)
            .bind(conversation)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Links a room to a conversation. Returns `false` if either side is already linked.
    pub async fn insert_portal(&self, p: &Portal) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO portals (connector, conversation, room_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&p.connector)
        .bind(&p.conversation)
        .bind(&p.room_id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done > 0)
    }

    /// Removes the link of a room (when everyone left it).
    pub async fn delete_portal(&self, room_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM portals WHERE room_id = $1")
            .bind(room_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes the link of a conversation.
    pub async fn delete_portal_of(&self, connector: &str, conversation: &str) -> Result<()> {
        sqlx::query("DELETE FROM portals WHERE connector = $1 AND conversation = $2")
            .bind(connector)
            .bind(conversation)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every conversation of a connector that has a portal.
    pub async fn conversations_of(&self, connector: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT conversation FROM portals WHERE connector = $1")
            .bind(connector)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    /// Number of portals.
    pub async fn portal_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM portals")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::Portal;
    use crate::store::temp_store;

    #[tokio::test]
    async fn a_room_and_a_conversation_link_once() {
        let (_dir, store) = temp_store().await;
        let p = Portal {
            connector: "sms".into(),
            conversation: "+331".into(),
            room_id: "!r".into(),
        };
        assert!(store.insert_portal(&p).await.expect("insert"));
        let other_room = Portal {
            room_id: "!s".into(),
            ..p.clone()
        };
        assert!(!store.insert_portal(&other_room).await.expect("conflict"));
        assert_eq!(
            store.portal_by_room("!r").await.expect("get"),
            Some(p.clone())
        );
        assert_eq!(
            store
                .portal_by_conversation("sms", "+331")
                .await
                .expect("get"),
            Some(p)
        );
    }
}
