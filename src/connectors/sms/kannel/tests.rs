//! The Kannel webhook (driven without a network) and the sendsms request.

use axum::{
    body::Body,
    http::{Request, StatusCode},
};
use tower::ServiceExt;
use url::Url;

use super::{Kannel, report_of};
use crate::{
    config::{KannelConfig, Secret},
    connector::InboundKind,
    connectors::sms::{
        inbound::{Report, tests::hooks},
        provider::{Mt, Provider},
        segments::Coding,
    },
};

fn kannel() -> Kannel {
    Kannel::new(
        KannelConfig {
            sendsms_url: Url::parse("http://127.0.0.1:13013/cgi-bin/sendsms").expect("url"),
            username: "bridge".into(),
            password: Secret::new("bridgepw"),
            webhook_token: Secret::new("s3cret&x"),
        },
        Url::parse("http://127.0.0.1:29444").expect("url"),
    )
}

async fn call(method: &str, uri: &str, body: &str) -> (StatusCode, Vec<crate::connector::Inbound>) {
    let (sink, hooks) = hooks();
    let router = kannel().routes(hooks);
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "text/plain; charset=\"UTF-8\"")
        .body(Body::from(body.to_owned()))
        .expect("request");
    let response = router.oneshot(request).await.expect("answer");
    let committed = sink.committed.lock().expect("lock").clone();
    (response.status(), committed)
}

#[tokio::test]
async fn calls_without_the_right_token_are_refused_with_403() {
    for uri in [
        "/kannel/mo?from=%2B33612345678",
        "/kannel/mo?from=%2B33612345678&token=wrong",
        "/kannel/mo?from=%2B33612345678&token=s3cret",
        "/kannel/dlr?key=1&type=1&to=%2B33612345678&token=",
    ] {
        let (status, committed) = call("POST", uri, "hi").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert!(committed.is_empty(), "{uri}");
    }
}

#[tokio::test]
async fn an_incoming_sms_is_stored_and_answered_200() {
    let uri = "/kannel/mo?from=%2B33612345678&id=a1b2&ts=1700000000&token=s3cret%26x";
    let (status, committed) = call("POST", uri, "Salut 😀 €").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(committed.len(), 1);
    assert_eq!(committed[0].remote_id, "mo-a1b2");
    assert_eq!(committed[0].sender, "+33612345678");
    assert_eq!(committed[0].body, "Salut 😀 €");
    assert_eq!(committed[0].timestamp_ms, Some(1_700_000_000_000));
}

#[tokio::test]
async fn malformed_incoming_sms_get_400_and_nothing_is_stored() {
    for (uri, body) in [
        (
            "/kannel/mo?token=s3cret%26x",
            "no sender".as_bytes().to_vec(),
        ),
        (
            "/kannel/mo?from=hello&token=s3cret%26x",
            b"bad sender".to_vec(),
        ),
    ] {
        let (status, committed) = call("POST", uri, &String::from_utf8_lossy(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(committed.is_empty());
    }
    let (sink, hooks) = hooks();
    let request = Request::builder()
        .method("POST")
        .uri("/kannel/mo?from=%2B33612345678&token=s3cret%26x")
        .body(Body::from(vec![0xff, 0xfe, 0x00]))
        .expect("request");
    let response = kannel()
        .routes(hooks)
        .oneshot(request)
        .await
        .expect("answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(sink.committed.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn delivery_reports_map_kannel_types() {
    let base = "/kannel/dlr?key=7&to=%2B33612345678&token=s3cret%26x";
    let (status, committed) = call("GET", &format!("{base}&type=8&answer=ACK"), "").await;
    assert_eq!((status, committed.len()), (StatusCode::OK, 0));
    let (status, committed) = call("GET", &format!("{base}&type=1&answer=DELIVRD"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        committed[0].kind,
        InboundKind::Read {
            target: "sms-7".into()
        }
    );
    let (status, committed) = call(
        "GET",
        &format!("{base}&type=16&answer=NACK%2F0x0000000b"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        &committed[0].kind,
        InboundKind::DeliveryFailed { target, reason, key: Some(7) }
            if target == "sms-7" && reason.contains("rejected by the SMSC") && reason.contains("NACK/0x0000000b")
    ));
    let (status, committed) = call("GET", "/kannel/dlr?type=1&token=s3cret%26x", "").await;
    assert_eq!((status, committed.len()), (StatusCode::BAD_REQUEST, 0));
}

#[test]
fn report_types_follow_kannel() {
    assert_eq!(report_of(1, ""), Some(Report::Delivered));
    assert_eq!(report_of(8, ""), Some(Report::Accepted));
    assert_eq!(report_of(4, ""), Some(Report::Accepted));
    assert!(matches!(report_of(2, "absent"), Some(Report::Failed(r)) if r.contains("absent")));
    assert!(matches!(report_of(16, ""), Some(Report::Failed(_))));
    assert_eq!(report_of(99, ""), None);
}

#[test]
fn the_sendsms_request_carries_coding_and_a_dlr_url_with_passerelles_id() {
    let k = kannel();
    let plan = k.plan("Prix 5€ 😀");
    assert_eq!(plan.coding, Coding::Ucs2, "beyond Latin-1: UCS-2");
    assert_eq!(k.plan("Crème à l'été").coding, Coding::Gsm7);
    let url = k.sendsms_url(&Mt {
        key: 42,
        from: "+33100000000",
        to: "+33612345678",
        text: "Prix 5€ 😀",
        plan: &plan,
    });
    let pairs: std::collections::BTreeMap<String, String> =
        url.query_pairs().into_owned().collect();
    assert_eq!(pairs["username"], "bridge");
    assert_eq!(pairs["to"], "+33612345678");
    assert_eq!(pairs["text"], "Prix 5€ 😀");
    assert_eq!(pairs["charset"], "UTF-8");
    assert_eq!(pairs["coding"], "2");
    assert_eq!(pairs["dlr-mask"], "31");
    assert_eq!(
        pairs["dlr-url"],
        "http://127.0.0.1:29444/kannel/dlr?key=42&to=%2B33612345678&type=%d&answer=%A&token=s3cret%26x"
    );
}
