//! The outbox: every send, to the homeserver or to a remote network, stored before its first
//! attempt. The row id is the idempotency key reused on every retry.

use sqlx::{Row, Sqlite, Transaction, sqlite::SqliteRow};

use super::{MessageMapping, Result, Store, now_ms, state};

/// Where an outbox row goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// To the homeserver (an event in a Matrix room).
    Matrix,
    /// To a remote network through a connector.
    Remote,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Matrix => "matrix",
            Self::Remote => "remote",
        }
    }
}

/// A send to queue.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    /// Where it goes.
    pub direction: Direction,
    /// The connector, for remote sends.
    pub connector: Option<String>,
    /// The Matrix room it belongs to (its ordering queue).
    pub room_id: String,
    /// The serialised send.
    pub payload: String,
}

/// A stored send.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// Row id: the send's idempotency key.
    pub id: i64,
    /// The connector, for remote sends.
    pub connector: Option<String>,
    /// The Matrix room.
    pub room_id: String,
    /// The serialised send.
    pub payload: String,
    /// Attempts made so far.
    pub attempts: i64,
}

/// Reads a row selected as `id, connector, room_id, payload, attempts`.
fn from_row(r: &SqliteRow) -> Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.try_get(0)?,
        connector: r.try_get(1)?,
        room_id: r.try_get(2)?,
        payload: r.try_get(3)?,
        attempts: r.try_get(4)?,
    })
}

pub(super) async fn insert(tx: &mut Transaction<'_, Sqlite>, send: &NewOutbox) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO outbox (direction, connector, room_id, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(send.direction.as_str())
    .bind(&send.connector)
    .bind(&send.room_id)
    .bind(&send.payload)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get(0)?)
}

impl Store {
    /// Queues sends outside of any other change.
    pub async fn enqueue(&self, sends: &[NewOutbox]) -> Result<Vec<i64>> {
        let mut tx = self.write_transaction().await?;
        let mut ids = Vec::with_capacity(sends.len());
        for send in sends {
            ids.push(insert(&mut tx, send).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Rooms with pending sends in `direction`.
    pub async fn outbox_rooms(&self, direction: Direction) -> Result<Vec<String>> {
        let rows =
            sqlx::query("SELECT DISTINCT room_id FROM outbox WHERE state = $1 AND direction = $2")
                .bind(state::PENDING)
                .bind(direction.as_str())
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    /// The oldest pending send of a room in `direction`.
    pub async fn next_outbox(
        &self,
        direction: Direction,
        room_id: &str,
    ) -> Result<Option<OutboxRow>> {
        let row = sqlx::query(
            "SELECT id, connector, room_id, payload, attempts FROM outbox \
             WHERE state = $1 AND direction = $2 AND room_id = $3 ORDER BY id LIMIT 1",
        )
        .bind(state::PENDING)
        .bind(direction.as_str())
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Records a successful send: its result id, the message mapping, and follow-up sends.
    pub async fn outbox_succeeded(
        &self,
        id: i64,
        result_id: &str,
        mapping: Option<&MessageMapping>,
        follow_ups: &[NewOutbox],
    ) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        if let Some(m) = mapping {
            super::messages::insert(&mut tx, m).await?;
        }
        for send in follow_ups {
            insert(&mut tx, send).await?;
        }
        sqlx::query("UPDATE outbox SET state = $1, result_id = $2, done_at = $3, last_error = NULL WHERE id = $4")
            .bind(state::DONE)
            .bind(result_id)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt that will be retried.
    pub async fn outbox_retry_later(
        &self,
        id: i64,
        attempts: i64,
        next_at_ms: i64,
        error: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET attempts = $1, next_attempt_at = $2, last_error = $3 WHERE id = $4",
        )
        .bind(attempts)
        .bind(next_at_ms)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a send as failed for good and queues the follow-ups (the user's notice).
    pub async fn outbox_wedged(
        &self,
        id: i64,
        error: &str,
        follow_ups: &[NewOutbox],
    ) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        for send in follow_ups {
            insert(&mut tx, send).await?;
        }
        sqlx::query("UPDATE outbox SET state = $1, last_error = $2, done_at = $3 WHERE id = $4")
            .bind(state::FAILED)
            .bind(error)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One outbox row, whatever its state.
    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>> {
        let row = sqlx::query(
            "SELECT id, connector, room_id, payload, attempts FROM outbox WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Pending sends (both directions), for diagnostics and metrics.
    pub async fn outbox_pending_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM outbox WHERE state = $1")
            .bind(state::PENDING)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::{Direction, NewOutbox};
    use crate::store::{MessageMapping, temp_store};

    fn send(room: &str, payload: &str) -> NewOutbox {
        NewOutbox {
            direction: Direction::Remote,
            connector: Some("test".into()),
            room_id: room.into(),
            payload: payload.into(),
        }
    }

    #[tokio::test]
    async fn sends_are_ordered_per_room_and_finish_once() {
        let (_dir, store) = temp_store().await;
        store
            .enqueue(&[send("!a", "1"), send("!b", "2"), send("!a", "3")])
            .await
            .expect("enqueue");
        assert_eq!(
            store.outbox_rooms(Direction::Matrix).await.expect("rooms"),
            Vec::<String>::new()
        );
        let first = store
            .next_outbox(Direction::Remote, "!a")
            .await
            .expect("next")
            .expect("some");
        assert_eq!(first.payload, "1");
        store
            .outbox_retry_later(first.id, 1, 0, "timeout")
            .await
            .expect("retry");
        let again = store
            .next_outbox(Direction::Remote, "!a")
            .await
            .expect("next")
            .expect("some");
        assert_eq!((again.id, again.attempts), (first.id, 1));
        let mapping = MessageMapping {
            connector: "test".into(),
            remote_id: "r1".into(),
            room_id: "!a".into(),
            event_id: "$e1".into(),
            sender: "@u:x".into(),
        };
        store
            .outbox_succeeded(first.id, "r1", Some(&mapping), &[])
            .await
            .expect("done");
        assert_eq!(
            store
                .next_outbox(Direction::Remote, "!a")
                .await
                .expect("next")
                .expect("some")
                .payload,
            "3"
        );
        assert_eq!(
            store
                .message_by_event("$e1")
                .await
                .expect("lookup")
                .map(|m| m.remote_id)
                .as_deref(),
            Some("r1")
        );
    }

    #[tokio::test]
    async fn a_wedged_send_queues_its_notice() {
        let (_dir, store) = temp_store().await;
        let ids = store.enqueue(&[send("!a", "x")]).await.expect("enqueue");
        let notice = NewOutbox {
            direction: Direction::Matrix,
            connector: None,
            room_id: "!a".into(),
            payload: "n".into(),
        };
        store
            .outbox_wedged(ids[0], "invalid number", &[notice])
            .await
            .expect("wedge");
        assert!(
            store
                .next_outbox(Direction::Remote, "!a")
                .await
                .expect("next")
                .is_none()
        );
        assert_eq!(
            store
                .next_outbox(Direction::Matrix, "!a")
                .await
                .expect("next")
                .expect("notice")
                .payload,
            "n"
        );
    }
}
