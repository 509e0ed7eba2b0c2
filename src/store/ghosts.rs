//! Ghosts: the puppet Matrix users of remote contacts.

use sqlx::{Row, sqlite::SqliteRow};

use super::{Result, Store, now_ms};

/// A remote contact's puppet user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ghost {
    /// The connector.
    pub connector: String,
    /// The contact's canonical remote id.
    pub remote_id: String,
    /// The ghost's Matrix user id.
    pub user_id: String,
    /// Display name last set on the homeserver.
    pub display_name: Option<String>,
    /// True once registered on the homeserver.
    pub registered: bool,
}

fn from_row(r: &SqliteRow) -> Result<Ghost> {
    Ok(Ghost {
        connector: r.try_get(0)?,
        remote_id: r.try_get(1)?,
        user_id: r.try_get(2)?,
        display_name: r.try_get(3)?,
        registered: r.try_get::<i64, _>(4)? != 0,
    })
}

impl Store {
    /// The ghost with this Matrix user id.
    pub async fn ghost_by_user(&self, user_id: &str) -> Result<Option<Ghost>> {
        sqlx::query("SELECT connector, remote_id, user_id, display_name, registered FROM ghosts WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Records a ghost (or updates its profile and registration state).
    pub async fn upsert_ghost(&self, g: &Ghost) -> Result<()> {
        sqlx::query(
            "INSERT INTO ghosts (connector, remote_id, user_id, display_name, registered, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (connector, remote_id) DO UPDATE SET \
               display_name = excluded.display_name, registered = excluded.registered, \
               updated_at = excluded.updated_at",
        )
        .bind(&g.connector)
        .bind(&g.remote_id)
        .bind(&g.user_id)
        .bind(&g.display_name)
        .bind(i64::from(g.registered))
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Number of known ghosts.
    pub async fn ghost_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM ghosts")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::Ghost;
    use crate::store::temp_store;

    #[tokio::test]
    async fn ghosts_upsert_and_read_back() {
        let (_dir, store) = temp_store().await;
        let mut g = Ghost {
            connector: "sms".into(),
            remote_id: "+33612345678".into(),
            user_id: "@_sms_+33612345678:x".into(),
            display_name: None,
            registered: false,
        };
        store.upsert_ghost(&g).await.expect("insert");
        g.display_name = Some("Ann".into());
        g.registered = true;
        store.upsert_ghost(&g).await.expect("update");
        assert_eq!(store.ghost_by_user(&g.user_id).await.expect("get"), Some(g));
        assert_eq!(store.ghost_count().await.expect("count"), 1);
    }
}
