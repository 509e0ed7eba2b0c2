//! The SMPP tables: message ids of sent parts, and parts of incoming messages.

use super::PartsSet;
use crate::store::{now_ms, temp_store};

#[tokio::test]
async fn sent_ids_find_their_message_and_parts_until_pruned() {
    let (_dir, store) = temp_store().await;
    assert_eq!(store.smpp_sent("sms", "a1").await.expect("read"), None);
    store
        .smpp_sent_insert("sms", "a1", 7, "+33612345678", 0)
        .await
        .expect("insert");
    store
        .smpp_sent_insert("sms", "a3", 7, "+33612345678", 2)
        .await
        .expect("insert");
    store
        .smpp_sent_insert("sms", "b1", 8, "+33699999999", 0)
        .await
        .expect("insert");
    assert_eq!(
        store.smpp_sent("sms", "a3").await.expect("read"),
        Some((7, "+33612345678".to_owned()))
    );
    assert_eq!(store.smpp_sent("other", "a3").await.expect("read"), None);
    assert_eq!(
        store.smpp_sent_parts("sms", 7).await.expect("parts"),
        vec![0, 2]
    );
    assert!(
        store
            .smpp_sent_parts("sms", 9)
            .await
            .expect("parts")
            .is_empty()
    );
    // An id the SMSC reuses names the newer message.
    store
        .smpp_sent_insert("sms", "a1", 9, "+33611111111", 0)
        .await
        .expect("reuse");
    assert_eq!(
        store.smpp_sent("sms", "a1").await.expect("read"),
        Some((9, "+33611111111".to_owned()))
    );
    assert_eq!(
        store
            .smpp_sent_prune("sms", now_ms() - 60_000)
            .await
            .expect("prune"),
        0
    );
    assert_eq!(
        store
            .smpp_sent_prune("sms", now_ms() + 1)
            .await
            .expect("prune"),
        3
    );
    assert_eq!(store.smpp_sent("sms", "b1").await.expect("read"), None);
}

#[tokio::test]
async fn parts_accumulate_once_each_until_deleted_and_expire_by_first_arrival() {
    let (_dir, store) = temp_store().await;
    let set = PartsSet {
        sender: "33612345678".into(),
        reference: 300,
        total: 3,
    };
    let other = PartsSet {
        reference: 301,
        ..set.clone()
    };
    let so_far = store
        .smpp_part_insert("sms", &set, 2, "b")
        .await
        .expect("insert")
        .expect("new set");
    assert_eq!(so_far.len(), 1);
    // A repeated delivery keeps the first copy.
    store
        .smpp_part_insert("sms", &set, 2, "again")
        .await
        .expect("repeat");
    store
        .smpp_part_insert("sms", &other, 1, "z")
        .await
        .expect("other");
    let so_far = store
        .smpp_part_insert("sms", &set, 1, "a")
        .await
        .expect("insert")
        .expect("open set");
    assert_eq!(
        so_far
            .iter()
            .map(|p| (p.seq, p.body.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "a"), (2, "b")]
    );
    assert!(
        store
            .smpp_parts_expired("sms", now_ms() - 60_000)
            .await
            .expect("expired")
            .is_empty()
    );
    let mut expired = store
        .smpp_parts_expired("sms", now_ms() + 1)
        .await
        .expect("expired");
    expired.sort();
    assert_eq!(expired, vec![set.clone(), other.clone()]);
    store.smpp_parts_delete("sms", &set).await.expect("delete");
    assert!(
        store
            .smpp_parts("sms", &set)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        store.smpp_parts("sms", &other).await.expect("read").len(),
        1
    );
}

#[tokio::test]
async fn a_set_handed_on_recognises_repeats_until_pruned_and_yields_to_a_new_message() {
    let (_dir, store) = temp_store().await;
    let set = PartsSet {
        sender: "+33612345678".into(),
        reference: 5,
        total: 2,
    };
    for (seq, body) in [(1, "a"), (2, "b")] {
        store
            .smpp_part_insert("sms", &set, seq, body)
            .await
            .expect("insert");
    }
    store.smpp_parts_done("sms", &set).await.expect("done");
    assert!(
        store
            .smpp_parts("sms", &set)
            .await
            .expect("read")
            .is_empty()
    );
    assert!(
        store
            .smpp_parts_expired("sms", now_ms() + 1)
            .await
            .expect("expired")
            .is_empty(),
        "a set handed on never expires into a message"
    );
    // The SMSC delivers the last part again: a repeat.
    assert_eq!(
        store
            .smpp_part_insert("sms", &set, 2, "b")
            .await
            .expect("repeat"),
        None
    );
    // The sender reuses the reference for another message: a new set.
    let fresh = store
        .smpp_part_insert("sms", &set, 2, "other")
        .await
        .expect("insert")
        .expect("new set");
    assert_eq!(
        fresh.iter().map(|p| p.body.as_str()).collect::<Vec<_>>(),
        ["other"]
    );
    // Pruning forgets only sets handed on.
    store.smpp_parts_done("sms", &set).await.expect("done");
    assert_eq!(
        store
            .smpp_parts_prune("sms", now_ms() - 60_000)
            .await
            .expect("prune"),
        0
    );
    assert_eq!(
        store
            .smpp_parts_prune("sms", now_ms() + 1)
            .await
            .expect("prune"),
        1
    );
    assert_eq!(
        store
            .smpp_part_insert("sms", &set, 2, "b")
            .await
            .expect("insert")
            .map(|p| p.len()),
        Some(1)
    );
}
