//! The Twilio webhooks (driven without a network) and the status mapping.

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use http_body_util::BodyExt;
use tower::ServiceExt;
use url::Url;

use super::{Twilio, report_of, signature::sign};
use crate::{
    config::{Secret, TwilioConfig},
    connector::InboundKind,
    connectors::sms::{
        inbound::{Report, tests::hooks},
        provider::Provider,
    },
};

const TOKEN: &str = "twilio-token";

fn twilio() -> Twilio {
    Twilio::new(
        TwilioConfig {
            api_url: Url::parse("http://127.0.0.1:1").expect("url"),
            account_sid: "AC123".into(),
            auth_token: Secret::new(TOKEN),
        },
        Url::parse("https://bridge.example.org/").expect("url"),
    )
}

fn form(pairs: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let owned: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&owned)
        .finish();
    (body, owned)
}

async fn call(
    path: &str,
    pairs: &[(&str, &str)],
    signature: Option<&str>,
) -> (StatusCode, String, Vec<crate::connector::Inbound>) {
    let (sink, hooks) = hooks();
    let (body, _) = form(pairs);
    let mut request = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(s) = signature {
        request = request.header("X-Twilio-Signature", s);
    }
    let response = twilio()
        .routes(hooks)
        .oneshot(request.body(Body::from(body)).expect("request"))
        .await
        .expect("answer");
    let status = response.status();
    let text = String::from_utf8_lossy(
        &response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
    .into_owned();
    let committed = sink.committed.lock().expect("lock").clone();
    (status, text, committed)
}

fn signed(path: &str, pairs: &[(&str, &str)]) -> String {
    let (_, owned) = form(pairs);
    sign(TOKEN, &format!("https://bridge.example.org{path}"), &owned)
}

const SMS: &[(&str, &str)] = &[
    ("MessageSid", "SM1"),
    ("From", "+33612345678"),
    ("To", "+33100000000"),
    ("Body", "Bonjour 😀"),
];

#[tokio::test]
async fn unsigned_or_wrongly_signed_webhooks_get_403() {
    for signature in [None, Some("bm90IGl0"), Some("")] {
        let (status, _, committed) = call("/twilio/sms", SMS, signature).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{signature:?}");
        assert!(committed.is_empty());
    }
    // Signed for another path: refused too.
    let other = signed("/twilio/status", SMS);
    let (status, _, _) = call("/twilio/sms", SMS, Some(&other)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_signed_incoming_sms_is_stored_and_answered_with_empty_twiml() {
    let signature = signed("/twilio/sms", SMS);
    let (status, body, committed) = call("/twilio/sms", SMS, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<Response></Response>"), "{body}");
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].remote_id, "mo-SM1");
    assert_eq!(committed[0].body, "Bonjour 😀");
}

#[tokio::test]
async fn status_callbacks_become_receipts_and_failures() {
    let path = "/twilio/status?key=9";
    let delivered = [
        ("MessageSid", "SM9"),
        ("MessageStatus", "delivered"),
        ("To", "+33612345678"),
    ];
    let (status, _, committed) = call(path, &delivered, Some(&signed(path, &delivered))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        committed[0].kind,
        InboundKind::Read {
            target: "sms-9".into()
        }
    );
    let failed = [
        ("MessageSid", "SM9"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
        ("To", "+33612345678"),
    ];
    let (_, _, committed) = call(path, &failed, Some(&signed(path, &failed))).await;
    assert!(matches!(
        &committed[0].kind,
        InboundKind::DeliveryFailed { reason, key: Some(9), .. } if reason.contains("30003")
    ));
    let (status, _, committed) = call(
        "/twilio/status",
        &delivered,
        Some(&signed("/twilio/status", &delivered)),
    )
    .await;
    assert_eq!(
        (status, committed.len()),
        (StatusCode::BAD_REQUEST, 0),
        "no key"
    );
}

#[test]
fn message_statuses_map_to_reports() {
    assert_eq!(report_of("delivered", None), Report::Delivered);
    assert_eq!(report_of("sent", None), Report::Accepted);
    assert_eq!(report_of("queued", None), Report::Accepted);
    assert!(matches!(report_of("failed", Some("30007")), Report::Failed(r) if r.contains("30007")));
}
