//! The email connector's state: how far each mailbox was read, mail waiting to be marked as
//! bridged, and the thread every mail belongs to.

use sqlx::Row;

use super::{Result, Store, now_ms, state};

/// A mail's place in its thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailThreadEntry {
    /// The mail's Message-ID (without angle brackets).
    pub message_id: String,
    /// The Message-ID of the thread's first mail.
    pub thread_root: String,
    /// The thread's subject (without `Re:`).
    pub subject: String,
    /// The References a reply to this mail carries (space-separated, without brackets).
    pub refs: String,
    /// The conversation the thread is in.
    pub conversation: String,
}

/// A fetched mail not yet flagged or moved in its mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMark {
    /// Its IMAP UID.
    pub uid: u32,
    /// The remote id it was committed under.
    pub remote_id: String,
}

impl Store {
    /// The UIDVALIDITY and last UID read of a mailbox, if it was read before.
    pub async fn email_mailbox(
        &self,
        connector: &str,
        mailbox: &str,
    ) -> Result<Option<(u32, u32)>> {
        let row = sqlx::query(
            "SELECT uid_validity, last_uid FROM email_mailboxes WHERE connector = $1 AND mailbox = $2",
        )
        .bind(connector)
        .bind(mailbox)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((to_u32(r.try_get(0)?), to_u32(r.try_get(1)?))))
            .transpose()
    }

    /// Records that mail up to `uid` was handed to the runtime, and that `mark` (if any) waits to
    /// be flagged once Matrix has it; atomically.
    pub async fn email_advance(
        &self,
        connector: &str,
        mailbox: &str,
        uid_validity: u32,
        uid: u32,
        mark: Option<(&str, bool)>,
    ) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "INSERT INTO email_mailboxes (connector, mailbox, uid_validity, last_uid) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (connector, mailbox) DO UPDATE SET \
             uid_validity = excluded.uid_validity, last_uid = excluded.last_uid",
        )
        .bind(connector)
        .bind(mailbox)
        .bind(i64::from(uid_validity))
        .bind(i64::from(uid))
        .execute(&mut *tx)
        .await?;
        if let Some((remote_id, needs_event)) = mark {
            sqlx::query(
                "INSERT INTO email_marks (connector, mailbox, uid_validity, uid, remote_id, needs_event) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(connector)
            .bind(mailbox)
            .bind(i64::from(uid_validity))
            .bind(i64::from(uid))
            .bind(remote_id)
            .bind(i64::from(needs_event))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Mail of a mailbox that Matrix now has (or that will never reach it), ready to be marked.
    pub async fn email_marks_ready(
        &self,
        connector: &str,
        mailbox: &str,
        uid_validity: u32,
    ) -> Result<Vec<EmailMark>> {
        let rows = sqlx::query(
            "SELECT m.uid, m.remote_id FROM email_marks m \
             LEFT JOIN remote_inbox r ON r.connector = m.connector AND r.remote_id = m.remote_id \
             LEFT JOIN messages x ON x.connector = m.connector AND x.remote_id = m.remote_id \
             WHERE m.connector = $1 AND m.mailbox = $2 AND m.uid_validity = $3 \
             AND (r.id IS NULL OR x.event_id IS NOT NULL OR r.state IN ($4, $5) \
                  OR (m.needs_event = 0 AND r.state = $6)) \
             ORDER BY m.uid",
        )
        .bind(connector)
        .bind(mailbox)
        .bind(i64::from(uid_validity))
        .bind(state::SKIPPED)
        .bind(state::FAILED)
        .bind(state::DONE)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EmailMark {
                    uid: to_u32(r.try_get(0)?),
                    remote_id: r.try_get(1)?,
                })
            })
            .collect()
    }

    /// Number of mails of a mailbox still waiting to be marked.
    pub async fn email_marks_waiting(
        &self,
        connector: &str,
        mailbox: &str,
        uid_validity: u32,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM email_marks WHERE connector = $1 AND mailbox = $2 AND uid_validity = $3",
        )
        .bind(connector)
        .bind(mailbox)
        .bind(i64::from(uid_validity))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Forgets marks done in the mailbox (or of a mailbox renumbered since).
    pub async fn email_marks_done(
        &self,
        connector: &str,
        mailbox: &str,
        uid_validity: u32,
        uids: &[u32],
    ) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "DELETE FROM email_marks WHERE connector = $1 AND mailbox = $2 AND uid_validity <> $3",
        )
        .bind(connector)
        .bind(mailbox)
        .bind(i64::from(uid_validity))
        .execute(&mut *tx)
        .await?;
        for uid in uids {
            sqlx::query(
                "DELETE FROM email_marks WHERE connector = $1 AND mailbox = $2 \
                 AND uid_validity = $3 AND uid = $4",
            )
            .bind(connector)
            .bind(mailbox)
            .bind(i64::from(uid_validity))
            .bind(i64::from(*uid))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a mail's thread (the first record of a Message-ID wins).
    pub async fn email_thread_insert(&self, connector: &str, e: &EmailThreadEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO email_messages \
             (connector, message_id, thread_root, subject, refs, conversation, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(connector)
        .bind(&e.message_id)
        .bind(&e.thread_root)
        .bind(&e.subject)
        .bind(&e.refs)
        .bind(&e.conversation)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The thread record of a Message-ID.
    pub async fn email_thread_entry(
        &self,
        connector: &str,
        message_id: &str,
    ) -> Result<Option<EmailThreadEntry>> {
        let row = sqlx::query(
            "SELECT message_id, thread_root, subject, refs, conversation FROM email_messages \
             WHERE connector = $1 AND message_id = $2",
        )
        .bind(connector)
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| entry_from_row(&r)).transpose()
    }

    /// The latest mail of a thread.
    pub async fn email_thread_latest(
        &self,
        connector: &str,
        thread_root: &str,
    ) -> Result<Option<EmailThreadEntry>> {
        let row = sqlx::query(
            "SELECT message_id, thread_root, subject, refs, conversation FROM email_messages \
             WHERE connector = $1 AND thread_root = $2 ORDER BY created_at DESC, message_id DESC LIMIT 1",
        )
        .bind(connector)
        .bind(thread_root)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| entry_from_row(&r)).transpose()
    }
}

fn entry_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<EmailThreadEntry> {
    Ok(EmailThreadEntry {
        message_id: r.try_get(0)?,
        thread_root: r.try_get(1)?,
        subject: r.try_get(2)?,
        refs: r.try_get(3)?,
        conversation: r.try_get(4)?,
    })
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}
