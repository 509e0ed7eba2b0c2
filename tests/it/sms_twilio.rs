//! SMS through a Twilio-compatible REST provider, with a real Synapse.
//!
//! Twilio's API cannot run here (no network, no account), so a small local HTTP server stands
//! in for it: it records each Messages API request and answers 201 like the real API. The test
//! then plays Twilio's calls to passerelle — incoming SMS and status callbacks — signed with
//! Twilio's published algorithm (HMAC-SHA1 over the URL and sorted parameters).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use passerelle::config::ConnectorConfig;

use crate::{
    harness::{Passerelle, User, base_config, bodies_from, http, serial, wait_for},
    sms_smpp::config_with_provider,
};

const T: Duration = Duration::from_secs(30);
const SID: &str = "ACtest";
const TOKEN: &str = "twilio-it-token";

/// One request the stand-in received.
#[derive(Debug, Clone)]
struct Recorded {
    path: String,
    authorization: String,
    form: Vec<(String, String)>,
}

impl Recorded {
    fn param(&self, name: &str) -> &str {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The local stand-in for the Twilio API.
struct StandIn {
    port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl StandIn {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let (mut length, mut authorization) = (0, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(':') {
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            "authorization" => authorization = value.trim().to_owned(),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                recorded.lock().expect("lock").push(Recorded {
                    path: request_line.split(' ').nth(1).unwrap_or("").to_owned(),
                    authorization,
                    form: url::form_urlencoded::parse(&body).into_owned().collect(),
                });
                let answer = format!(r#"{{"sid": "SM{n:032}", "status": "queued"}}"#);
                let _ = write!(
                    stream,
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        Self { port, requests }
    }

    fn wait_for_body(&self, body: &str) -> Recorded {
        wait_for(&format!("{body:?} at the Twilio stand-in"), T, || {
            self.requests
                .lock()
                .expect("lock")
                .iter()
                .find(|r| r.param("Body") == body)
                .cloned()
        })
    }
}

fn sign(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TOKEN.as_bytes()).expect("key");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Posts a form to passerelle's webhook as Twilio would; returns the status and body.
fn post(url: &str, params: &[(&str, &str)], signature: Option<&str>) -> (u16, String) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut request = http()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(s) = signature {
        request = request.header("X-Twilio-Signature", s);
    }
    let response = request.send().expect("webhook reachable");
    (
        response.status().as_u16(),
        response.text().unwrap_or_default(),
    )
}

#[test]
fn twilio_both_ways_with_signed_webhooks_and_status_callbacks() {
    let _serial = serial();
    let api = StandIn::start();
    let provider = format!(
        "    provider:\n      type: \"twilio\"\n      api_url: \"http://127.0.0.1:{}\"\n      account_sid: \"{SID}\"\n      auth_token: \"{TOKEN}\"\n",
        api.port
    );
    let config = config_with_provider("twilio", &provider);
    let p = Passerelle::start_with_config("twilio", config, &[]);
    p.wait_ready(T);
    let webhook = base_config()
        .connectors
        .iter()
        .find_map(|c| match c {
            ConnectorConfig::Sms(s) => {
                Some(s.webhook_url.as_str().trim_end_matches('/').to_owned())
            }
            _ => None,
        })
        .expect("the base config has an sms connector");

    let number = "+33612345677";
    let staff = User::register("twiliostaff");
    let ghost = format!("@_sms_{number}:{}", base_config().homeserver.server_name);
    let room = staff.direct_chat(&ghost);

    // Matrix → the Messages API: form POST with basic auth.
    let event = staff.send_text(&room, "Bonjour 😀");
    let sent = api.wait_for_body("Bonjour 😀");
    assert_eq!(
        sent.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(
        sent.authorization,
        format!("Basic {}", STANDARD.encode(format!("{SID}:{TOKEN}")))
    );
    assert_eq!(
        (sent.param("To"), sent.param("From")),
        (number, "+33100000000")
    );
    let callback = sent.param("StatusCallback").to_owned();
    assert!(
        callback.starts_with(&format!("{webhook}/twilio/status?key=")),
        "{callback}"
    );

    // Status callbacks must be signed.
    let delivered = [
        ("MessageSid", "SM1"),
        ("MessageStatus", "delivered"),
        ("To", number),
    ];
    assert_eq!(post(&callback, &delivered, None).0, 403);
    assert_eq!(post(&callback, &delivered, Some("d3Jvbmc=")).0, 403);
    let (status, _) = post(&callback, &delivered, Some(&sign(&callback, &delivered)));
    assert_eq!(status, 204);
    wait_for("the ghost's read receipt", T, || {
        staff.ephemeral(&room).into_iter().find(|e| {
            e["type"] == "m.receipt"
                && e["content"][event.as_str()]["m.read"][ghost.as_str()].is_object()
        })
    });

    // An undelivered status becomes a notice on the message.
    let event = staff.send_text(&room, "second");
    let callback = api
        .wait_for_body("second")
        .param("StatusCallback")
        .to_owned();
    let undelivered = [
        ("ErrorCode", "30003"),
        ("MessageSid", "SM2"),
        ("MessageStatus", "undelivered"),
        ("To", number),
    ];
    let (status, _) = post(
        &callback,
        &undelivered,
        Some(&sign(&callback, &undelivered)),
    );
    assert_eq!(status, 204);
    wait_for("the failure notice", T, || {
        staff.messages(&room).into_iter().find(|m| {
            m["content"]["msgtype"] == "m.notice"
                && m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event.as_str()
                && m["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("30003"))
        })
    });

    // An incoming SMS: unsigned is refused; signed is bridged and answered with empty TwiML.
    let url = format!("{webhook}/twilio/sms");
    let sms = [
        ("Body", "Réponse 👍"),
        ("From", number),
        ("MessageSid", "SMin1"),
        ("To", "+33100000000"),
    ];
    assert_eq!(post(&url, &sms, None).0, 403);
    let (status, body) = post(&url, &sms, Some(&sign(&url, &sms)));
    assert_eq!(status, 200);
    assert!(body.contains("<Response></Response>"), "{body}");
    wait_for("the incoming SMS in the room", T, || {
        bodies_from(&staff.messages(&room), &ghost)
            .contains(&"Réponse 👍".to_owned())
            .then_some(())
    });
}
