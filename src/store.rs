//! Durable state in SQLite (WAL): homeserver transactions, inbox, outbox, ghosts, portals,
//! the message map and connector state. Queries use only SQL that PostgreSQL also runs.

mod email;
mod ghosts;
mod inbox;
mod messages;
mod opt_outs;
mod outbox;
mod portals;
mod reactions;
mod smpp;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use self::{
    email::{EmailMark, EmailThreadEntry},
    ghosts::Ghost,
    inbox::{InboxRow, NewInboxEvent, RemoteInboxRow},
    messages::MessageMapping,
    outbox::{Direction, NewOutbox, OutboxRow},
    portals::Portal,
    reactions::Reaction,
    smpp::{PartsSet, StoredPart},
};

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database could not be opened, read or written.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A schema migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Row states shared by the inbox, remote inbox and outbox.
pub mod state {
    /// Waiting to be processed.
    pub const PENDING: i64 = 0;
    /// Processed; its effect is durable.
    pub const DONE: i64 = 1;
    /// Not processable (malformed, not ours); logged and left for inspection.
    pub const SKIPPED: i64 = 2;
    /// Failed permanently; the user was told.
    pub const FAILED: i64 = 3;
}

/// Handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path, max_connections: u32) -> Result<Self> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Statement journals (multi-row statements) and sorts in memory: otherwise SQLite
            // creates and deletes a temporary file for each of them.
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            // A local file cannot drop a connection: no ping round trip before each use.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Per queue (`inbox`, `remote_inbox`, `outbox_matrix`, `outbox_remote`): items waiting and
    /// when the oldest arrived (ms since the epoch).
    pub async fn queue_stats(&self) -> Result<Vec<(&'static str, i64, Option<i64>)>> {
        let mut out = Vec::with_capacity(4);
        for (queue, sql) in [
            (
                "inbox",
                "SELECT COUNT(*), MIN(received_at) FROM inbox WHERE state = $1",
            ),
            (
                "remote_inbox",
                "SELECT COUNT(*), MIN(received_at) FROM remote_inbox WHERE state = $1",
            ),
            (
                "outbox_matrix",
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = $1 AND connector IS NULL",
            ),
            (
                "outbox_remote",
                "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = $1 AND connector IS NOT NULL",
            ),
        ] {
            let row = sqlx::query(sql)
                .bind(state::PENDING)
                .fetch_one(&self.pool)
                .await?;
            out.push((queue, row.try_get(0)?, row.try_get(1)?));
        }
        Ok(out)
    }

    /// Starts a transaction that writes. SQLite: `BEGIN IMMEDIATE` takes the write lock at once
    /// (waiting up to the busy timeout), so a transaction that reads before it writes is never
    /// refused half-way with "database is locked" while another connection writes.
    pub(crate) async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// True if the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes every connection; SQLite then checkpoints and removes its WAL files.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The pool, for tests and benchmarks.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("test.db"), 2)
        .await
        .expect("open store");
    (dir, store)
}
