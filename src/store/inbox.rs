//! The two inboxes: events from the homeserver and messages from remote networks.

use sqlx::Row;

use super::{Result, Store, now_ms, state};

/// One event of a homeserver transaction, ready to store.
#[derive(Debug, Clone)]
pub struct NewInboxEvent {
    /// The room it belongs to.
    pub room_id: String,
    /// Its event id (none for ephemeral events).
    pub event_id: Option<String>,
    /// `timeline` or `ephemeral`.
    pub kind: &'static str,
    /// The event's JSON, as received.
    pub payload: String,
}

/// A stored homeserver event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InboxRow {
    /// Position in the inbox; processing order within a room.
    pub id: i64,
    /// The room.
    pub room_id: String,
    /// `timeline` or `ephemeral`.
    pub kind: String,
    /// The event's JSON.
    pub payload: String,
}

/// A stored remote message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RemoteInboxRow {
    /// Position in the remote inbox.
    pub id: i64,
    /// The connector that received it.
    pub connector: String,
    /// The remote conversation it belongs to.
    pub conversation: String,
    /// The serialised inbound message.
    pub payload: String,
}

/// Rows per `INSERT` statement: 6 parameters each, well under SQLite's limit of 32,766
/// parameters per statement (and PostgreSQL's 65,535).
const INSERT_CHUNK_ROWS: usize = 500;

impl Store {
    /// Stores a transaction's events with its id, atomically. Returns `false` (and stores
    /// nothing) if the transaction id was already accepted.
    pub async fn accept_transaction(&self, txn_id: &str, events: &[NewInboxEvent]) -> Result<bool> {
        let now = now_ms();
        let mut tx = self.write_transaction().await?;
        let inserted = sqlx::query(
            "INSERT INTO hs_transactions (txn_id, received_at, event_count) VALUES ($1, $2, $3) \
             ON CONFLICT (txn_id) DO NOTHING",
        )
        .bind(txn_id)
        .bind(now)
        .bind(i64::try_from(events.len()).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        // One multi-row statement per chunk: a statement is a round trip to the database
        // thread, and rows keep the order of the transaction.
        for chunk in events.chunks(INSERT_CHUNK_ROWS) {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO inbox (txn_id, room_id, event_id, kind, payload, received_at) ",
            );
            insert.push_values(chunk, |mut row, e| {
                row.push_bind(txn_id)
                    .push_bind(&e.room_id)
                    .push_bind(&e.event_id)
                    .push_bind(e.kind)
                    .push_bind(&e.payload)
                    .push_bind(now);
            });
            insert.push(" ON CONFLICT (event_id) DO NOTHING");
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Rooms that have pending inbox events.
    pub async fn inbox_rooms(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT room_id FROM inbox WHERE state = $1")
            .bind(state::PENDING)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    /// The oldest pending event of a room.
    pub async fn next_inbox(&self, room_id: &str) -> Result<Option<InboxRow>> {
        Ok(sqlx::query_as(
            "SELECT id, room_id, kind, payload FROM inbox WHERE state = $1 AND room_id = $2 \
             ORDER BY id LIMIT 1",
        )
        .bind(state::PENDING)
        .bind(room_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Marks an inbox event finished and queues its sends, atomically.
    pub async fn finish_inbox(
        &self,
        id: i64,
        final_state: i64,
        error: Option<&str>,
        sends: &[super::NewOutbox],
    ) -> Result<()> {
        self.finish_row("inbox", id, final_state, error, sends)
            .await
    }

    /// Sets a queue row's final state and inserts its sends in one database transaction.
    /// `table` is one of the two inbox tables, never user input.
    async fn finish_row(
        &self,
        table: &'static str,
        id: i64,
        final_state: i64,
        error: Option<&str>,
        sends: &[super::NewOutbox],
    ) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        for send in sends {
            super::outbox::insert(&mut tx, send).await?;
        }
        let sql = format!("UPDATE {table} SET state = $1, error = $2, done_at = $3 WHERE id = $4");
        sqlx::query(&sql)
            .bind(final_state)
            .bind(error)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a message from a remote network. Returns `false` if it was already stored.
    pub async fn accept_remote(
        &self,
        connector: &str,
        remote_id: &str,
        conversation: &str,
        payload: &str,
    ) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO remote_inbox (connector, remote_id, conversation, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (connector, remote_id) DO NOTHING",
        )
        .bind(connector)
        .bind(remote_id)
        .bind(conversation)
        .bind(payload)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }

    /// Conversations with pending remote messages, as `(connector, conversation)`.
    pub async fn remote_conversations(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT DISTINCT connector, conversation FROM remote_inbox WHERE state = $1",
        )
        .bind(state::PENDING)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The oldest pending message of a remote conversation.
    pub async fn next_remote(
        &self,
        connector: &str,
        conversation: &str,
    ) -> Result<Option<RemoteInboxRow>> {
        Ok(sqlx::query_as(
            "SELECT id, connector, conversation, payload FROM remote_inbox \
             WHERE state = $1 AND connector = $2 AND conversation = $3 ORDER BY id LIMIT 1",
        )
        .bind(state::PENDING)
        .bind(connector)
        .bind(conversation)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Marks a remote message finished and queues its sends, atomically.
    pub async fn finish_remote(
        &self,
        id: i64,
        final_state: i64,
        error: Option<&str>,
        sends: &[super::NewOutbox],
    ) -> Result<()> {
        self.finish_row("remote_inbox", id, final_state, error, sends)
            .await
    }

    /// Number of inbox events in each state, for tests and diagnostics: (pending, done, skipped).
    pub async fn inbox_counts(&self) -> Result<(i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT \
               COALESCE(SUM(CASE WHEN state = 0 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 1 THEN 1 ELSE 0 END), 0), \
               COALESCE(SUM(CASE WHEN state = 2 THEN 1 ELSE 0 END), 0) FROM inbox",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
    }
}

#[cfg(test)]
mod tests {
    use super::NewInboxEvent;
    use crate::store::{state, temp_store};

    fn event(room: &str, id: &str) -> NewInboxEvent {
        NewInboxEvent {
            room_id: room.into(),
            event_id: Some(id.into()),
            kind: "timeline",
            payload: format!("{{\"event_id\":\"{id}\"}}"),
        }
    }

    #[tokio::test]
    async fn a_transaction_is_accepted_once() {
        let (_dir, store) = temp_store().await;
        let events = [event("!a", "$1"), event("!a", "$2")];
        assert!(
            store
                .accept_transaction("t1", &events)
                .await
                .expect("first")
        );
        assert!(
            !store
                .accept_transaction("t1", &events)
                .await
                .expect("replay")
        );
        assert!(
            !store
                .accept_transaction("t1", &[event("!a", "$3")])
                .await
                .expect("replay, other body")
        );
        assert_eq!(store.inbox_counts().await.expect("counts"), (2, 0, 0));
    }

    #[tokio::test]
    async fn events_come_out_in_order_per_room() {
        let (_dir, store) = temp_store().await;
        store
            .accept_transaction(
                "t1",
                &[event("!a", "$1"), event("!b", "$2"), event("!a", "$3")],
            )
            .await
            .expect("accept");
        let mut rooms = store.inbox_rooms().await.expect("rooms");
        rooms.sort();
        assert_eq!(rooms, ["!a", "!b"]);
        let first = store.next_inbox("!a").await.expect("next").expect("some");
        assert!(first.payload.contains("$1"));
        store
            .finish_inbox(first.id, state::DONE, None, &[])
            .await
            .expect("finish");
        let second = store.next_inbox("!a").await.expect("next").expect("some");
        assert!(second.payload.contains("$3"));
        store
            .finish_inbox(second.id, state::DONE, None, &[])
            .await
            .expect("finish");
        assert!(store.next_inbox("!a").await.expect("next").is_none());
    }

    #[tokio::test]
    async fn a_large_transaction_keeps_its_order_and_skips_repeated_events() {
        let (_dir, store) = temp_store().await;
        // More rows than one INSERT statement takes, with an event sent twice across chunks.
        let mut events: Vec<_> = (0..1200).map(|i| event("!a", &format!("${i}"))).collect();
        events.push(event("!a", "$3"));
        events.push(NewInboxEvent {
            event_id: None,
            kind: "ephemeral",
            ..event("!a", "typing")
        });
        assert!(
            store
                .accept_transaction("big", &events)
                .await
                .expect("accept")
        );
        assert_eq!(store.inbox_counts().await.expect("counts"), (1201, 0, 0));
        let mut seen = Vec::new();
        while let Some(row) = store.next_inbox("!a").await.expect("next") {
            seen.push(row.payload.clone());
            store
                .finish_inbox(row.id, state::DONE, None, &[])
                .await
                .expect("finish");
        }
        let expected: Vec<String> = (0..1200)
            .map(|i| format!("{{\"event_id\":\"${i}\"}}"))
            .chain(std::iter::once("{\"event_id\":\"typing\"}".to_owned()))
            .collect();
        assert_eq!(seen, expected);
    }

    #[tokio::test]
    async fn ids_with_sql_metacharacters_round_trip() {
        let (_dir, store) = temp_store().await;
        let room = "!it's;--%_\"room";
        store
            .accept_transaction("t'1;", &[event(room, "$x'%;")])
            .await
            .expect("accept");
        let row = store.next_inbox(room).await.expect("next").expect("some");
        assert_eq!(row.room_id, room);
    }

    #[tokio::test]
    async fn remote_messages_are_deduplicated() {
        let (_dir, store) = temp_store().await;
        assert!(
            store
                .accept_remote("sms", "m1", "+33612345678", "{}")
                .await
                .expect("first")
        );
        assert!(
            !store
                .accept_remote("sms", "m1", "+33612345678", "{}")
                .await
                .expect("again")
        );
        assert!(
            store
                .accept_remote("email", "m1", "a@b", "{}")
                .await
                .expect("other connector")
        );
        let convs = store.remote_conversations().await.expect("conversations");
        assert_eq!(convs.len(), 2);
    }
}
