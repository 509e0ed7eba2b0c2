//! The appservice API of the real binary answers as the specification says.

use serde_json::{Value, json};

use crate::harness::{Passerelle, base_config, http, serial};

#[test]
fn wrong_or_missing_tokens_unknown_paths_and_methods() {
    let _serial = serial();
    let p = Passerelle::start("api", &[]);
    let url = p.url();
    let txn = format!("{url}/_matrix/app/v1/transactions/api-1");
    let body = json!({"events": []});

    let r = http().put(&txn).json(&body).send().expect("reachable");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().expect("json")["errcode"],
        "M_MISSING_TOKEN"
    );

    let r = http()
        .put(&txn)
        .bearer_auth("not-the-token")
        .json(&body)
        .send()
        .expect("reachable");
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().expect("json")["errcode"], "M_FORBIDDEN");

    let hs_token = base_config().appservice.hs_token.expose().to_owned();
    let r = http()
        .get(format!("{url}/_matrix/app/v1/unknown"))
        .bearer_auth(&hs_token)
        .send()
        .expect("reachable");
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().expect("json")["errcode"],
        "M_UNRECOGNIZED"
    );

    let r = http()
        .delete(&txn)
        .bearer_auth(&hs_token)
        .send()
        .expect("reachable");
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().expect("json")["errcode"],
        "M_UNRECOGNIZED"
    );

    let r = http()
        .put(&txn)
        .bearer_auth(&hs_token)
        .json(&body)
        .send()
        .expect("reachable");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().expect("json"), json!({}));

    // The token never appears in the logs.
    assert!(!p.log().contains(&hs_token), "the hs_token was logged");
}

/// A hostile request: what it is, method, URL, content type, body, token, and the status and
/// errcode it must get.
struct Case<'a>(
    &'a str,
    &'a str,
    String,
    &'a str,
    Vec<u8>,
    Option<&'a str>,
    u16,
    &'a str,
);

#[test]
fn hostile_requests_get_matrix_errors_and_bridging_goes_on() {
    let _serial = serial();
    let p = Passerelle::start("api-hostile", &[]);
    p.wait_ready(std::time::Duration::from_secs(30));
    let url = p.url();
    let token = base_config().appservice.hs_token.expose().to_owned();
    let txn = |id: &str| format!("{url}/_matrix/app/v1/transactions/{id}");
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let huge = format!(
        "{{\"events\": [{{\"type\": \"m.room.message\", \"content\": {{\"body\": \"{}\"}}}}]}}",
        "x".repeat(40 * 1024 * 1024)
    );
    let json = "application/json";
    let empty = || br#"{"events": []}"#.to_vec();
    let t = Some(token.as_str());
    let cases = [
        Case(
            "malformed JSON",
            "PUT",
            txn("h1"),
            json,
            b"{\"events\": [".to_vec(),
            t,
            400,
            "M_NOT_JSON",
        ),
        Case(
            "wrong shape",
            "PUT",
            txn("h2"),
            json,
            br#"{"events": {"a": 1}}"#.to_vec(),
            t,
            400,
            "M_BAD_JSON",
        ),
        Case(
            "deep nesting",
            "PUT",
            txn("h3"),
            json,
            nested.into_bytes(),
            t,
            400,
            "M_NOT_JSON",
        ),
        Case(
            "invalid UTF-8",
            "PUT",
            txn("h4"),
            json,
            b"{\"events\": [\"\xff\xfe\"]}".to_vec(),
            t,
            400,
            "M_NOT_JSON",
        ),
        Case(
            "huge body",
            "PUT",
            txn("h5"),
            json,
            huge.into_bytes(),
            t,
            413,
            "M_TOO_LARGE",
        ),
        Case(
            "no token",
            "PUT",
            txn("h6"),
            json,
            empty(),
            None,
            401,
            "M_MISSING_TOKEN",
        ),
        Case(
            "wrong token",
            "PUT",
            txn("h7"),
            json,
            empty(),
            Some("not-the-token"),
            403,
            "M_FORBIDDEN",
        ),
        Case(
            "traversal in a user id",
            "GET",
            format!("{url}/_matrix/app/v1/users/%40_test_..%2F..%2Fetc%2Fpasswd%3Aevil"),
            json,
            Vec::new(),
            t,
            404,
            "M_NOT_FOUND",
        ),
        Case(
            "traversal in a room alias",
            "GET",
            format!("{url}/_matrix/app/v1/rooms/%23..%2F..%2Fetc%3Alocalhost"),
            json,
            Vec::new(),
            t,
            404,
            "M_NOT_FOUND",
        ),
        Case(
            "traversal in the path",
            "GET",
            format!("{url}/_matrix/app/v1/../../etc/passwd"),
            json,
            Vec::new(),
            t,
            404,
            "M_UNRECOGNIZED",
        ),
        Case(
            "wrong method",
            "DELETE",
            txn("h8"),
            json,
            Vec::new(),
            t,
            405,
            "M_UNRECOGNIZED",
        ),
    ];
    assert_eq!(cases.len(), 11);
    for Case(what, method, target, content_type, body, auth, status, errcode) in cases {
        let mut request = http()
            .request(method.parse().expect("method"), &target)
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = auth {
            request = request.bearer_auth(t);
        }
        let response = request.send().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(response.status().as_u16(), status, "{what}");
        let answer: Value = response
            .json()
            .unwrap_or_else(|e| panic!("{what}: no JSON error: {e}"));
        assert_eq!(answer["errcode"], errcode, "{what}: {answer}");
    }

    // A wrong content type with a valid body is still read: Synapse always sends JSON.
    let r = http()
        .put(txn("h9"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body(r#"{"events": []}"#)
        .send()
        .expect("reachable");
    assert!(
        r.status().is_success() || r.status() == 415,
        "{}",
        r.status()
    );

    // Still alive, and the queues still move: a message through the test network.
    let staff = crate::harness::User::register("hostile");
    let contact = crate::harness::ghost("hostileecho");
    let room = staff.create_room(&[&contact], true);
    crate::harness::wait_for(
        "the ghost to join",
        std::time::Duration::from_secs(30),
        || staff.members(&room).contains(&contact).then_some(()),
    );
    staff.send_text(&room, "still working?");
    crate::harness::wait_for("the echo", std::time::Duration::from_secs(30), || {
        crate::harness::bodies_from(&staff.messages(&room), &contact)
            .contains(&"echo: still working?".to_owned())
            .then_some(())
    });
    assert!(!p.log().contains("panicked"), "{}", p.log());
}
