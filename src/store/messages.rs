//! The message map: Matrix event id ↔ remote message id.

use sqlx::{Row, Sqlite, Transaction, sqlite::SqliteRow};

use super::{Result, Store, now_ms};

/// One bridged message, known on both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMapping {
    /// The connector.
    pub connector: String,
    /// The remote network's message id.
    pub remote_id: String,
    /// The Matrix room.
    pub room_id: String,
    /// The Matrix event id.
    pub event_id: String,
    /// Who sent it (Matrix user id of the author or ghost).
    pub sender: String,
}

pub(super) async fn insert(tx: &mut Transaction<'_, Sqlite>, m: &MessageMapping) -> Result<()> {
    sqlx::query(
        "INSERT INTO messages (connector, remote_id, room_id, event_id, sender, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&m.connector)
    .bind(&m.remote_id)
    .bind(&m.room_id)
    .bind(&m.event_id)
    .bind(&m.sender)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn from_row(r: &SqliteRow) -> Result<MessageMapping> {
    Ok(MessageMapping {
        connector: r.try_get(0)?,
        remote_id: r.try_get(1)?,
        room_id: r.try_get(2)?,
        event_id: r.try_get(3)?,
        sender: r.try_get(4)?,
    })
}

impl Store {
    /// The mapping of a Matrix event.
    pub async fn message_by_event(&self, event_id: &str) -> Result<Option<MessageMapping>> {
        sqlx::query("SELECT connector, remote_id, room_id, event_id, sender FROM messages WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// The mapping of a remote message.
    pub async fn message_by_remote(
        &self,
        connector: &str,
        remote_id: &str,
    ) -> Result<Option<MessageMapping>> {
        sqlx::query(
            "SELECT connector, remote_id, room_id, event_id, sender FROM messages \
             WHERE connector = $1 AND remote_id = $2",
        )
        .bind(connector)
        .bind(remote_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// Users already told about `reason`; records `user_id` and returns `true` the first time.
    pub async fn notify_once(&self, user_id: &str, reason: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO notified_users (user_id, reason, notified_at) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(reason)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done > 0)
    }
}
