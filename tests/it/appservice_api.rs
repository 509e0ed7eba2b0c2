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
