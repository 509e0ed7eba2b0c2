//! The gateway callbacks' effects, through a sink that records what it is given.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{HookError, Hooks, Mo, Report, fold};
use crate::connector::{ConnectorError, Inbound, InboundKind, InboundSink};

/// Records commits and opt-outs, as the runtime's sink would store them.
#[derive(Default)]
pub(crate) struct RecordingSink {
    pub(crate) committed: Mutex<Vec<Inbound>>,
    pub(crate) opt_outs: Mutex<Vec<(String, bool, String)>>,
}

#[async_trait]
impl InboundSink for RecordingSink {
    async fn commit(&self, _connector: &str, message: Inbound) -> Result<(), ConnectorError> {
        self.committed.lock().expect("lock").push(message);
        Ok(())
    }

    fn back_online(&self, _connector: &str) {}

    async fn set_opt_out(
        &self,
        _connector: &str,
        contact: &str,
        opted_out: bool,
        keyword: &str,
    ) -> Result<(), ConnectorError> {
        self.opt_outs.lock().expect("lock").push((
            contact.to_owned(),
            opted_out,
            keyword.to_owned(),
        ));
        Ok(())
    }
}

pub(crate) fn hooks() -> (Arc<RecordingSink>, Hooks) {
    let sink = Arc::new(RecordingSink::default());
    let region = crate::connectors::sms::number::region("FR").expect("FR");
    let hooks = Hooks::new(
        sink.clone(),
        region,
        &["STOP".to_owned(), "ARRET".to_owned()],
        &["START".to_owned()],
        Arc::default(),
    );
    (sink, hooks)
}

fn mo(from: &str, text: &str, id: Option<&str>) -> Mo {
    Mo {
        from: from.to_owned(),
        text: text.to_owned(),
        id: id.map(str::to_owned),
        timestamp_ms: Some(1_700_000_000_000),
    }
}

#[tokio::test]
async fn an_incoming_sms_is_stored_under_the_e164_number() {
    let (sink, hooks) = hooks();
    hooks
        .mo(mo("0612345678", "Bonjour 😀", Some("abc")))
        .await
        .expect("stored");
    let committed = sink.committed.lock().expect("lock").clone();
    assert_eq!(committed.len(), 1);
    let m = &committed[0];
    assert_eq!(
        (
            m.remote_id.as_str(),
            m.conversation.as_str(),
            m.sender.as_str()
        ),
        ("mo-abc", "+33612345678", "+33612345678")
    );
    assert_eq!(m.body, "Bonjour 😀");
    assert_eq!(m.kind, InboundKind::Message);
    assert_eq!(m.timestamp_ms, Some(1_700_000_000_000));
}

#[tokio::test]
async fn without_a_gateway_id_the_same_sms_gets_the_same_remote_id() {
    let (sink, hooks) = hooks();
    for _ in 0..2 {
        hooks
            .mo(mo("+33612345678", "hi", None))
            .await
            .expect("stored");
    }
    hooks
        .mo(mo("+33612345678", "other", None))
        .await
        .expect("stored");
    let ids: Vec<String> = sink
        .committed
        .lock()
        .expect("lock")
        .iter()
        .map(|m| m.remote_id.clone())
        .collect();
    assert_eq!(
        ids[0], ids[1],
        "a repeated delivery is recognised by the runtime"
    );
    assert_ne!(ids[0], ids[2]);
}

#[tokio::test]
async fn a_bad_sender_is_refused_and_nothing_stored() {
    let (sink, hooks) = hooks();
    let e = hooks
        .mo(mo("not-a-number", "hi", None))
        .await
        .expect_err("bad");
    assert!(
        matches!(e, HookError::BadInput(ref m) if m.contains("phone number")),
        "{e}"
    );
    assert!(sink.committed.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn keywords_opt_out_and_back_in_and_are_still_bridged() {
    let (sink, hooks) = hooks();
    hooks
        .mo(mo("0612345678", " stop ", None))
        .await
        .expect("stop");
    hooks
        .mo(mo("0612345678", "Arrêt !", None))
        .await
        .expect("arret");
    hooks
        .mo(mo("0612345678", "Start", None))
        .await
        .expect("start");
    hooks
        .mo(mo("0612345678", "please stop calling", None))
        .await
        .expect("not a keyword");
    let opt_outs = sink.opt_outs.lock().expect("lock").clone();
    assert_eq!(
        opt_outs,
        [
            ("+33612345678".to_owned(), true, "stop".to_owned()),
            ("+33612345678".to_owned(), true, "Arrêt !".to_owned()),
            ("+33612345678".to_owned(), false, "Start".to_owned()),
        ]
    );
    assert_eq!(sink.committed.lock().expect("lock").len(), 4);
}

#[tokio::test]
async fn delivery_reports_become_receipts_and_failure_notices() {
    let (sink, hooks) = hooks();
    hooks
        .report(42, "+33612345678", Report::Accepted)
        .await
        .expect("accepted");
    hooks
        .report(42, "+33612345678", Report::Delivered)
        .await
        .expect("delivered");
    hooks
        .report(43, "0612345678", Report::Failed("absent subscriber".into()))
        .await
        .expect("failed");
    let committed = sink.committed.lock().expect("lock").clone();
    assert_eq!(committed.len(), 2, "an SMSC acknowledgement shows nothing");
    assert_eq!(committed[0].remote_id, "dlr-42-delivered");
    assert_eq!(
        committed[0].kind,
        InboundKind::Read {
            target: "sms-42".into()
        }
    );
    assert!(committed[0].timestamp_ms.is_some());
    assert_eq!(committed[1].conversation, "+33612345678");
    assert_eq!(
        committed[1].kind,
        InboundKind::DeliveryFailed {
            target: "sms-43".into(),
            reason: "absent subscriber".into(),
            key: Some(43),
        }
    );
}

#[test]
fn keywords_fold_case_accents_and_final_punctuation() {
    assert_eq!(fold(" Arrêt! "), "ARRET");
    assert_eq!(fold("stop."), "STOP");
    assert_eq!(fold("STOP ALL"), "STOP ALL");
}

#[tokio::test]
async fn a_failure_report_for_a_message_refused_at_submission_is_not_told_twice() {
    let sink = Arc::new(RecordingSink::default());
    let refused = Arc::new(super::Refused::default());
    let hooks = Hooks::new(
        sink.clone(),
        crate::connectors::sms::number::region("FR").expect("FR"),
        &[],
        &[],
        refused.clone(),
    );
    refused.submitting(8);
    refused.submitted(8, true);
    hooks
        .report(8, "+33612345678", Report::Failed("no SMSC".into()))
        .await
        .expect("ignored");
    // The report can come before the gateway's answer to the submission itself.
    refused.submitting(7);
    let early = {
        let hooks = hooks.clone();
        tokio::spawn(async move {
            hooks
                .report(7, "+33612345678", Report::Failed("no route".into()))
                .await
        })
    };
    tokio::task::yield_now().await;
    refused.submitted(7, true);
    early.await.expect("joined").expect("ignored");
    hooks
        .report(9, "+33612345678", Report::Failed("no SMSC".into()))
        .await
        .expect("stored");
    let committed = sink.committed.lock().expect("lock").clone();
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].remote_id, "dlr-9-failed");
}
