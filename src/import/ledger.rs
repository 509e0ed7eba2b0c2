//! The import ledger in SQLite: which room an import writes to and which source messages
//! are already sent (source key → event id), committed after each send.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Export, Kind, SourceKind};
use crate::store::{self, Store, now_ms};

/// One import's ledger.
#[derive(Debug, Clone)]
pub struct Ledger {
    store: Store,
    import_id: String,
}

impl Ledger {
    /// The ledger of the import identified by `import_id` (the export's chat key).
    pub fn new(store: Store, import_id: &str) -> Self {
        Self {
            store,
            import_id: import_id.to_owned(),
        }
    }

    /// The room an earlier run created, if any.
    pub async fn room(&self) -> store::Result<Option<String>> {
        let row = sqlx::query("SELECT room_id FROM import_rooms WHERE import_id = $1")
            .bind(&self.import_id)
            .fetch_optional(self.store.pool())
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Remembers the room this import writes to.
    pub async fn set_room(&self, source: SourceKind, room_id: &str) -> store::Result<()> {
        sqlx::query(
            "INSERT INTO import_rooms (import_id, source, room_id, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&self.import_id)
        .bind(source.as_str())
        .bind(room_id)
        .bind(now_ms())
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Marks the import as complete.
    pub async fn finish(&self) -> store::Result<()> {
        sqlx::query("UPDATE import_rooms SET finished_at = $1 WHERE import_id = $2")
            .bind(now_ms())
            .bind(&self.import_id)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Everything already sent: source key → event id.
    pub async fn sent(&self) -> store::Result<BTreeMap<String, String>> {
        let rows =
            sqlx::query("SELECT source_key, event_id FROM import_ledger WHERE import_id = $1")
                .bind(&self.import_id)
                .fetch_all(self.store.pool())
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Records one sent item.
    pub async fn record(&self, key: &str, event_id: &str) -> store::Result<()> {
        sqlx::query(
            "INSERT INTO import_ledger (import_id, source_key, event_id, sent_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (import_id, source_key) DO NOTHING",
        )
        .bind(&self.import_id)
        .bind(key)
        .bind(event_id)
        .bind(now_ms())
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// The homeserver transaction id for a source key: unique across the appservice and the
    /// same on every run, so a retry within the homeserver's dedup window is not doubled.
    pub fn txn_id(&self, key: &str) -> String {
        let digest = Sha256::digest(format!("{}|{key}", self.import_id).as_bytes());
        let mut id = base32(&digest);
        id.truncate(32);
        id
    }
}

/// The source key of every message, in file order.
///
/// Telegram: `tg:<chat id>:<message id>`. WhatsApp: `wa:<chat fingerprint>:<hash of local
/// time, sender, body and attachment>#<occurrence>`, so that a later, longer export of the same
/// chat gives the same keys to the messages it shares with this one.
pub fn source_keys(export: &Export) -> Vec<String> {
    let mut occurrences: BTreeMap<String, usize> = BTreeMap::new();
    export
        .messages
        .iter()
        .map(|m| match (export.source, m.id) {
            (SourceKind::Telegram, Some(id)) => format!("{}:{id}", export.chat_key),
            _ => {
                let material = format!(
                    "{}|{}|{}|{}|{}",
                    m.local_time,
                    m.sender.as_deref().unwrap_or(""),
                    m.body,
                    m.attachment.as_ref().map_or("", |a| a.filename.as_str()),
                    if m.kind == Kind::System { "system" } else { "" }
                );
                let digest: String = Sha256::digest(material.as_bytes())
                    .iter()
                    .take(16)
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let n = occurrences.entry(digest.clone()).or_default();
                *n += 1;
                format!("{}:{digest}#{n}", export.chat_key)
            }
        })
        .collect()
}

/// RFC 4648 base32, lower case, no padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{Ledger, base32, source_keys};
    use crate::{
        import::whatsapp::{Options, parse},
        store::temp_store,
    };

    #[test]
    fn base32_matches_rfc_4648() {
        // RFC 4648 section 10 test vectors, lower case and unpadded.
        assert_eq!(base32(b"f"), "my");
        assert_eq!(base32(b"fo"), "mzxq");
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }

    #[test]
    fn whatsapp_keys_count_identical_messages_and_survive_a_longer_export() {
        let o = Options {
            timezone: "UTC".into(),
            chat_name: Some("Trip".into()),
            ..Options::default()
        };
        let short = parse(
            "18/03/2022, 14:56 - Ann: ok\n18/03/2022, 14:56 - Ann: ok\n",
            "a",
            &o,
        )
        .expect("parses");
        let long = parse(
            "17/03/2022, 09:00 - Bo: older\n18/03/2022, 14:56 - Ann: ok\n18/03/2022, 14:56 - Ann: ok\n",
            "b",
            &o,
        )
        .expect("parses");
        let a = source_keys(&short);
        let b = source_keys(&long);
        assert_ne!(
            a[0], a[1],
            "two identical messages in the same minute stay two"
        );
        assert!(a[0].ends_with("#1") && a[1].ends_with("#2"));
        assert_eq!(a[..], b[1..]);
    }

    #[tokio::test]
    async fn the_ledger_remembers_rooms_and_sent_keys() {
        let (_dir, store) = temp_store().await;
        let ledger = Ledger::new(store.clone(), "tg:1");
        assert_eq!(ledger.room().await.expect("room"), None);
        ledger
            .set_room(crate::import::SourceKind::Telegram, "!r:x")
            .await
            .expect("set");
        ledger.record("tg:1:5", "$e1").await.expect("record");
        ledger.record("tg:1:5", "$e2").await.expect("record again");
        let again = Ledger::new(store, "tg:1");
        assert_eq!(again.room().await.expect("room").as_deref(), Some("!r:x"));
        let sent = again.sent().await.expect("sent");
        assert_eq!(sent.get("tg:1:5").map(String::as_str), Some("$e1"));
        let txn = again.txn_id("tg:1:5");
        assert_eq!(txn.len(), 32);
        assert_eq!(txn, ledger.txn_id("tg:1:5"));
        assert_ne!(
            txn,
            Ledger::new(again.store.clone(), "tg:2").txn_id("tg:1:5")
        );
    }
}
