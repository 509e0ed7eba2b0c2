//! SMPP state: the SMSC's ids of the parts it took (for receipts and retries) and the parts of
//! incoming concatenated SMS waiting for the rest.

use sqlx::Row;

use super::{Result, Store, now_ms};

/// One incoming concatenated SMS being reassembled: its sender, reference and part count.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartsSet {
    /// The sender's number, as the SMSC wrote it.
    pub sender: String,
    /// The concatenation reference (8 or 16 bits).
    pub reference: u16,
    /// How many parts the message has.
    pub total: u8,
}

/// A stored part: its number (from 1), its decoded text and when it arrived (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPart {
    /// Its number in the message, from 1.
    pub seq: u8,
    /// Its decoded text.
    pub body: String,
    /// When it arrived (ms since the epoch).
    pub received_at: i64,
}

impl Store {
    /// Records that the SMSC took part `part` (from 0) of the message sent under `key` to
    /// `recipient`, as `message_id`. An id the SMSC reuses now names this message.
    pub async fn smpp_sent_insert(
        &self,
        connector: &str,
        message_id: &str,
        key: i64,
        recipient: &str,
        part: usize,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO smpp_sent (connector, message_id, outbox_key, recipient, part, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (connector, message_id) DO UPDATE SET outbox_key = excluded.outbox_key, \
             recipient = excluded.recipient, part = excluded.part, created_at = excluded.created_at",
        )
        .bind(connector)
        .bind(message_id)
        .bind(key)
        .bind(recipient)
        .bind(i64::try_from(part).unwrap_or(i64::MAX))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The outbox key and recipient of the message the SMSC took as `message_id`.
    pub async fn smpp_sent(
        &self,
        connector: &str,
        message_id: &str,
    ) -> Result<Option<(i64, String)>> {
        let row = sqlx::query(
            "SELECT outbox_key, recipient FROM smpp_sent WHERE connector = $1 AND message_id = $2",
        )
        .bind(connector)
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// The parts (from 0) of the message of `key` the SMSC already took.
    pub async fn smpp_sent_parts(&self, connector: &str, key: i64) -> Result<Vec<usize>> {
        let rows = sqlx::query(
            "SELECT DISTINCT part FROM smpp_sent WHERE connector = $1 AND outbox_key = $2 ORDER BY part",
        )
        .bind(connector)
        .bind(key)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| usize::try_from(r.try_get::<i64, _>(0).ok()?).ok())
            .collect())
    }

    /// Forgets message ids recorded before `before_ms`; returns how many.
    pub async fn smpp_sent_prune(&self, connector: &str, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM smpp_sent WHERE connector = $1 AND created_at < $2")
            .bind(connector)
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Stores part `seq` of `set` (a repeated delivery keeps the first copy) and returns the
    /// parts stored so far, in order; or `None` if it repeats a part of a set already handed on
    /// (a different text there means the sender reused the reference: that old set is dropped).
    pub async fn smpp_part_insert(
        &self,
        connector: &str,
        set: &PartsSet,
        seq: u8,
        body: &str,
    ) -> Result<Option<Vec<StoredPart>>> {
        let old = bind_set(
            sqlx::query(
                "SELECT body, done FROM smpp_parts \
             WHERE connector = $1 AND sender = $2 AND reference = $3 AND total = $4 AND seq = $5",
            ),
            connector,
            set,
        )
        .bind(i64::from(seq))
        .fetch_optional(&self.pool)
        .await?;
        if let Some(old) = old
            && old.get::<i64, _>(1) != 0
        {
            if old.try_get::<String, _>(0)? == body {
                return Ok(None);
            }
            self.smpp_parts_delete(connector, set).await?;
        }
        sqlx::query(
            "INSERT INTO smpp_parts (connector, sender, reference, total, seq, body, received_at, done) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0) \
             ON CONFLICT (connector, sender, reference, total, seq) DO NOTHING",
        )
        .bind(connector)
        .bind(&set.sender)
        .bind(i64::from(set.reference))
        .bind(i64::from(set.total))
        .bind(i64::from(seq))
        .bind(body)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        self.smpp_parts(connector, set).await.map(Some)
    }

    /// The stored parts of `set` not handed on yet, in order.
    pub async fn smpp_parts(&self, connector: &str, set: &PartsSet) -> Result<Vec<StoredPart>> {
        let rows = bind_set(
            sqlx::query(
            "SELECT seq, body, received_at FROM smpp_parts WHERE connector = $1 AND sender = $2 \
             AND reference = $3 AND total = $4 AND done = 0 ORDER BY seq",
        ),
            connector,
            set,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(StoredPart {
                    seq: u8::try_from(r.try_get::<i64, _>(0).ok()?).ok()?,
                    body: r.try_get(1).ok()?,
                    received_at: r.try_get(2).ok()?,
                })
            })
            .collect())
    }

    /// Sets not handed on yet whose first part arrived before `before_ms`.
    pub async fn smpp_parts_expired(
        &self,
        connector: &str,
        before_ms: i64,
    ) -> Result<Vec<PartsSet>> {
        let rows = sqlx::query(
            "SELECT sender, reference, total FROM smpp_parts WHERE connector = $1 AND done = 0 \
             GROUP BY sender, reference, total HAVING MIN(received_at) < $2",
        )
        .bind(connector)
        .bind(before_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(PartsSet {
                    sender: r.try_get(0).ok()?,
                    reference: u16::try_from(r.try_get::<i64, _>(1).ok()?).ok()?,
                    total: u8::try_from(r.try_get::<i64, _>(2).ok()?).ok()?,
                })
            })
            .collect())
    }

    /// Marks `set` handed on: its parts are kept only to recognise repeats.
    pub async fn smpp_parts_done(&self, connector: &str, set: &PartsSet) -> Result<()> {
        bind_set(
            sqlx::query(
                "UPDATE smpp_parts SET done = 1 \
             WHERE connector = $1 AND sender = $2 AND reference = $3 AND total = $4",
            ),
            connector,
            set,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes the parts of sets handed on whose parts arrived before `before_ms`.
    pub async fn smpp_parts_prune(&self, connector: &str, before_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM smpp_parts WHERE connector = $1 AND done = 1 AND received_at < $2",
        )
        .bind(connector)
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes the parts of `set`.
    pub async fn smpp_parts_delete(&self, connector: &str, set: &PartsSet) -> Result<()> {
        bind_set(
            sqlx::query(
                "DELETE FROM smpp_parts \
             WHERE connector = $1 AND sender = $2 AND reference = $3 AND total = $4",
            ),
            connector,
            set,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Binds `connector` and `set` to `$1`…`$4` of a query naming one set
/// (`connector = $1 AND sender = $2 AND reference = $3 AND total = $4`).
fn bind_set<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    connector: &'q str,
    set: &'q PartsSet,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    query
        .bind(connector)
        .bind(&set.sender)
        .bind(i64::from(set.reference))
        .bind(i64::from(set.total))
}

#[cfg(test)]
mod tests;
