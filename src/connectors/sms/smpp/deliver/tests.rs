//! Receipts and incoming SMS from deliver_sm, through a recording sink.

use std::time::Duration;

use super::{decode_text, expire, handle, parse_receipt};
use crate::{
    connector::InboundKind,
    connectors::sms::{
        inbound::{Report, tests::hooks as recording_hooks},
        smpp::pdu::{DeliverSm, concat_udh, status, tag},
    },
    store::{PartsSet, temp_store},
};

fn deliver(esm_class: u8, data_coding: u8, data: &[u8]) -> DeliverSm {
    DeliverSm {
        source_ton: 1,
        source: "33612345678".into(),
        destination: "33100000000".into(),
        esm_class,
        data_coding,
        short_message: data.to_vec(),
        tlvs: Default::default(),
    }
}

#[test]
fn user_data_is_decoded_by_data_coding() {
    assert_eq!(decode_text(0, &[0x48, 0x69, 0x1b, 0x65]), "Hi€");
    assert_eq!(decode_text(8, &[0xd8, 0x3d, 0xde, 0x00]), "😀");
    assert_eq!(decode_text(3, &[0x63, 0x61, 0x66, 0xe9]), "café");
    assert_eq!(decode_text(1, b"ok"), "ok");
}

#[test]
fn receipts_give_the_message_id_and_state() {
    let mut d = deliver(0x04, 0, b"id:abc sub:001 dlvrd:001 submit date:2401011200 done date:2401011200 stat:DELIVRD err:000 text:");
    assert_eq!(parse_receipt(&d), Some(("abc".into(), Report::Delivered)));
    d.tlvs
        .insert(tag::RECEIPTED_MESSAGE_ID, b"0000002a\0".to_vec());
    d.tlvs.insert(tag::MESSAGE_STATE, vec![5]);
    d.short_message = b"id:0000002a stat:UNDELIV err:001".to_vec();
    let (id, report) = parse_receipt(&d).expect("receipt");
    assert_eq!(id, "0000002a");
    assert!(matches!(report, Report::Failed(r) if r.contains("UNDELIV") && r.contains("001")));
    let enroute = deliver(0x04, 0, b"id:x stat:ENROUTE");
    assert_eq!(
        parse_receipt(&enroute),
        Some(("x".into(), Report::Accepted))
    );
    assert_eq!(parse_receipt(&deliver(0x04, 0, b"no id here")), None);
}

#[tokio::test]
async fn a_receipt_for_a_stored_message_id_becomes_a_read_receipt() {
    let (sink, hooks) = recording_hooks();
    let (_dir, store) = temp_store().await;
    store
        .smpp_sent_insert("sms", "m1", 12, "+33612345678", 0)
        .await
        .expect("insert");
    let d = deliver(0x04, 0, b"id:m1 stat:DELIVRD err:000");
    assert_eq!(handle(d, &hooks, &store).await, status::OK);
    let unknown = deliver(0x04, 0, b"id:other stat:DELIVRD err:000");
    assert_eq!(handle(unknown, &hooks, &store).await, status::OK);
    let committed = sink.committed.lock().expect("lock").clone();
    assert_eq!(committed.len(), 1, "a receipt for an unknown id is ignored");
    assert_eq!(
        committed[0].kind,
        InboundKind::Read {
            target: "sms-12".into()
        }
    );
}

fn part(reference: u8, total: u8, seq: u8, ucs2: &[u8]) -> DeliverSm {
    let mut data = concat_udh(reference, total, seq).to_vec();
    data.extend_from_slice(ucs2);
    deliver(0x40, 8, &data)
}

#[tokio::test]
async fn concatenated_parts_are_stored_then_become_one_message() {
    let (sink, hooks) = recording_hooks();
    let (_dir, store) = temp_store().await;
    // Out of order: the second part first, and delivered twice.
    for _ in 0..2 {
        assert_eq!(
            handle(part(7, 2, 2, &[0, 0x21]), &hooks, &store).await,
            status::OK
        );
    }
    assert!(sink.committed.lock().expect("lock").is_empty());
    let set = PartsSet {
        sender: "+33612345678".into(),
        reference: 7,
        total: 2,
    };
    assert_eq!(store.smpp_parts("sms", &set).await.expect("parts").len(), 1);
    // A fresh process (the same store) finishes the message.
    let (sink2, hooks2) = recording_hooks();
    let first = part(7, 2, 1, &[0, 0xe9, 0xd8, 0x3d, 0xde, 0x00]);
    assert_eq!(handle(first, &hooks2, &store).await, status::OK);
    assert!(sink.committed.lock().expect("lock").is_empty());
    let committed = sink2.committed.lock().expect("lock").clone();
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].body, "é😀!");
    assert_eq!(committed[0].sender, "+33612345678");
    assert!(
        store
            .smpp_parts("sms", &set)
            .await
            .expect("parts")
            .is_empty()
    );
    // The SMSC delivers the last part again (its answer was lost): acknowledged, nothing more.
    let again = part(7, 2, 1, &[0, 0xe9, 0xd8, 0x3d, 0xde, 0x00]);
    assert_eq!(handle(again, &hooks2, &store).await, status::OK);
    expire(&hooks2, &store, Duration::ZERO).await;
    assert_eq!(sink2.committed.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn incomplete_parts_expire_into_one_message_with_a_note() {
    let (sink, hooks) = recording_hooks();
    let (_dir, store) = temp_store().await;
    assert_eq!(
        handle(part(9, 3, 1, &[0, 0x61]), &hooks, &store).await,
        status::OK
    );
    assert_eq!(
        handle(part(9, 3, 3, &[0, 0x63]), &hooks, &store).await,
        status::OK
    );
    // Not yet expired.
    expire(&hooks, &store, Duration::from_secs(3600)).await;
    assert!(sink.committed.lock().expect("lock").is_empty());
    expire(&hooks, &store, Duration::ZERO).await;
    let committed = sink.committed.lock().expect("lock").clone();
    assert_eq!(committed.len(), 1);
    assert!(
        committed[0].body.starts_with("a[…]c\n\n") && committed[0].body.contains("part 1, 3 of 3"),
        "{}",
        committed[0].body
    );
    let set = PartsSet {
        sender: "+33612345678".into(),
        reference: 9,
        total: 3,
    };
    assert!(
        store
            .smpp_parts("sms", &set)
            .await
            .expect("parts")
            .is_empty()
    );
    expire(&hooks, &store, Duration::ZERO).await;
    assert_eq!(sink.committed.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn a_bad_header_or_sender_is_refused_permanently() {
    let (sink, hooks) = recording_hooks();
    let (_dir, store) = temp_store().await;
    let bad_udh = deliver(0x40, 0, &[9, 0, 3]);
    assert_eq!(
        handle(bad_udh, &hooks, &store).await,
        status::PERMANENT_APP_ERROR
    );
    let mut bad_sender = deliver(0, 0, b"hi");
    bad_sender.source = "abc".into();
    bad_sender.source_ton = 5;
    assert_eq!(
        handle(bad_sender, &hooks, &store).await,
        status::PERMANENT_APP_ERROR
    );
    assert!(sink.committed.lock().expect("lock").is_empty());
}
