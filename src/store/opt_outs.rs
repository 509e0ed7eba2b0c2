//! Contacts who asked a connector to send them nothing more (SMS "STOP"), until they opt back in.

use sqlx::Row;

use super::{Result, Store, now_ms};

impl Store {
    /// Records that `contact` opted out with `keyword` (the first keyword is kept).
    pub async fn insert_opt_out(
        &self,
        connector: &str,
        contact: &str,
        keyword: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO opt_outs (connector, contact, keyword, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connector, contact) DO NOTHING",
        )
        .bind(connector)
        .bind(contact)
        .bind(keyword)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets `contact`'s opt-out.
    pub async fn delete_opt_out(&self, connector: &str, contact: &str) -> Result<()> {
        sqlx::query("DELETE FROM opt_outs WHERE connector = $1 AND contact = $2")
            .bind(connector)
            .bind(contact)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The keyword `contact` opted out with, if they are opted out.
    pub async fn opt_out(&self, connector: &str, contact: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT keyword FROM opt_outs WHERE connector = $1 AND contact = $2")
            .bind(connector)
            .bind(contact)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::temp_store;

    #[tokio::test]
    async fn opt_outs_are_per_connector_and_contact_until_deleted() {
        let (_dir, store) = temp_store().await;
        assert_eq!(
            store.opt_out("sms", "+33612345678").await.expect("read"),
            None
        );
        store
            .insert_opt_out("sms", "+33612345678", "STOP")
            .await
            .expect("insert");
        store
            .insert_opt_out("sms", "+33612345678", "ARRET")
            .await
            .expect("again");
        assert_eq!(
            store
                .opt_out("sms", "+33612345678")
                .await
                .expect("read")
                .as_deref(),
            Some("STOP")
        );
        assert_eq!(
            store.opt_out("sms", "+33699999999").await.expect("read"),
            None
        );
        assert_eq!(
            store.opt_out("other", "+33612345678").await.expect("read"),
            None
        );
        store
            .delete_opt_out("sms", "+33612345678")
            .await
            .expect("delete");
        assert_eq!(
            store.opt_out("sms", "+33612345678").await.expect("read"),
            None
        );
    }
}
