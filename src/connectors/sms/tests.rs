//! What the connector refuses before a send, and what it hands the provider.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;

use super::{
    SmsConnector,
    inbound::{Hooks, tests::RecordingSink},
    provider::{Mt, Provider},
};
use crate::{
    config::{KannelConfig, Secret, SmsConnectorConfig, SmsProviderConfig},
    connector::{Connector, Health, InboundSink, Outbound, SendError, Sender},
};

/// What the recorder was asked to send: key, from, to, text.
type Submitted = Arc<Mutex<Vec<(i64, String, String, String)>>>;

/// Records what it is asked to submit.
#[derive(Default)]
struct Recorder(Submitted);

#[async_trait]
impl Provider for Recorder {
    async fn submit(&self, mt: &Mt<'_>) -> Result<(), SendError> {
        self.0.lock().expect("lock").push((
            mt.key,
            mt.from.to_owned(),
            mt.to.to_owned(),
            mt.text.to_owned(),
        ));
        Ok(())
    }

    fn routes(&self, _hooks: Hooks) -> Router {
        Router::new()
    }

    async fn probe(&self) -> Health {
        Health::Ok
    }
}

fn config() -> SmsConnectorConfig {
    let yaml = r#"
number: "01 00 00 00 00"
default_region: "FR"
max_segments: 2
webhook_bind: "127.0.0.1:0"
provider:
  type: kannel
  sendsms_url: "http://127.0.0.1:1/cgi-bin/sendsms"
  username: u
  password: p
  webhook_token: t
"#;
    serde_norway::from_str(yaml).expect("config")
}

async fn started() -> (Arc<RecordingSink>, Submitted, SmsConnector) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let connector = SmsConnector::with_provider(config(), Box::new(Recorder(sent.clone())));
    let sink = Arc::new(RecordingSink::default());
    let _ = connector.sink.set(sink.clone() as Arc<dyn InboundSink>);
    (sink, sent, connector)
}

fn message(key: i64, to: &str, body: &str) -> Outbound {
    Outbound {
        key,
        conversation: to.to_owned(),
        event_id: format!("$e{key}"),
        sender: Sender {
            user_id: "@alice:example.org".into(),
            display_name: None,
        },
        body: body.to_owned(),
        html: None,
        msgtype: "m.text".into(),
        reply_to: None,
        reply_quote: None,
        thread_root: None,
    }
}

#[tokio::test]
async fn a_send_goes_from_the_organisation_number_and_returns_passerelles_id() {
    let (_sink, sent, connector) = started().await;
    let id = connector
        .send(&message(5, "+33612345678", "Bonjour"))
        .await
        .expect("sent");
    assert_eq!(id, "sms-5");
    assert_eq!(
        sent.lock().expect("lock").clone(),
        [(
            5,
            "+33100000000".to_owned(),
            "+33612345678".to_owned(),
            "Bonjour".to_owned()
        )]
    );
}

#[tokio::test]
async fn an_invalid_number_is_a_permanent_failure_and_nothing_is_sent() {
    let (_sink, sent, connector) = started().await;
    let e = connector
        .send(&message(1, "12", "hi"))
        .await
        .expect_err("invalid");
    assert!(
        matches!(&e, SendError::Permanent { reason } if reason.contains("not a valid phone number")),
        "{e}"
    );
    assert!(sent.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn a_message_over_max_segments_is_refused_saying_how_many_it_takes() {
    let (_sink, sent, connector) = started().await;
    // 307 GSM characters: 3 segments of 153, over the limit of 2.
    let e = connector
        .send(&message(1, "+33612345678", &"a".repeat(307)))
        .await
        .expect_err("too long");
    assert!(
        matches!(&e, SendError::Permanent { reason } if reason.contains("take 3 SMS") && reason.contains("max_segments")),
        "{e}"
    );
    // 306 fit in 2.
    connector
        .send(&message(2, "+33612345678", &"a".repeat(306)))
        .await
        .expect("two segments");
    assert_eq!(sent.lock().expect("lock").len(), 1);
}

#[tokio::test]
async fn an_opted_out_contact_is_refused_until_they_opt_back_in() {
    let (sink, sent, connector) = started().await;
    let hooks = Hooks::new(
        sink.clone(),
        super::number::region("FR").expect("FR"),
        &connector.config.opt_out_keywords,
        &connector.config.opt_in_keywords,
        Arc::default(),
    );
    hooks
        .mo(super::inbound::Mo {
            from: "0612345678".into(),
            text: "STOP".into(),
            id: None,
            timestamp_ms: None,
        })
        .await
        .expect("stop");
    // The recording sink remembers; answer from what it recorded.
    let opted = sink.opt_outs.lock().expect("lock").clone();
    assert_eq!(
        opted,
        [("+33612345678".to_owned(), true, "STOP".to_owned())]
    );
    let connector = SmsConnector {
        sink: std::sync::OnceLock::from(Arc::new(OptedOut) as Arc<dyn InboundSink>),
        ..connector
    };
    let e = connector
        .send(&message(3, "+33612345678", "hi"))
        .await
        .expect_err("opted out");
    assert!(
        matches!(&e, SendError::Permanent { reason } if reason.contains("STOP") && reason.contains("START")),
        "{e}"
    );
    assert!(sent.lock().expect("lock").is_empty());
}

/// A sink where every contact has opted out with STOP.
struct OptedOut;

#[async_trait]
impl InboundSink for OptedOut {
    async fn commit(
        &self,
        _connector: &str,
        _message: crate::connector::Inbound,
    ) -> Result<(), crate::connector::ConnectorError> {
        Ok(())
    }

    fn back_online(&self, _connector: &str) {}

    async fn opt_out(
        &self,
        _connector: &str,
        _contact: &str,
    ) -> Result<Option<String>, crate::connector::ConnectorError> {
        Ok(Some("STOP".into()))
    }
}

#[test]
fn the_configuration_is_checked_key_by_key() {
    let mut c = config();
    assert!(super::config_problems(&c).is_empty());
    c.number = "abc".into();
    c.max_segments = 0;
    let keys: Vec<_> = super::config_problems(&c)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["number", "max_segments"]);
    c.default_region = "Nowhere".into();
    let keys: Vec<_> = super::config_problems(&c)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["default_region", "max_segments"]);
    let smpp = SmsConnectorConfig {
        provider: SmsProviderConfig::Smpp(crate::config::SmppConfig {
            server: "127.0.0.1:2775".into(),
            system_id: "bridge".into(),
            password: Secret::new("pw"),
            system_type: String::new(),
            enquire_link_interval: std::time::Duration::from_secs(30),
            response_timeout: std::time::Duration::from_secs(10),
            message_payload: false,
            reassembly_timeout: std::time::Duration::ZERO,
        }),
        ..config()
    };
    let keys: Vec<_> = super::config_problems(&smpp)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["provider.reassembly_timeout"]);
    let placeholders = SmsConnectorConfig {
        provider: SmsProviderConfig::Kannel(KannelConfig {
            sendsms_url: url::Url::parse("http://127.0.0.1/").expect("url"),
            username: "u".into(),
            password: Secret::new("CHANGE_ME"),
            webhook_token: Secret::new(""),
        }),
        ..config()
    };
    assert_eq!(super::placeholders(&placeholders).len(), 2);
}

#[test]
fn numbers_resolve_to_e164_for_ghosts_and_lookups() {
    let connector = SmsConnector::new(config(), None);
    assert_eq!(
        connector.resolve_identifier("06 12 34 56 78").as_deref(),
        Ok("+33612345678")
    );
    assert!(connector.resolve_identifier("bob@example.org").is_err());
    let protocol = connector.protocol().expect("sms protocol");
    assert_eq!(
        (protocol.id.as_str(), protocol.user_field.as_str()),
        ("sms", "number")
    );
}
