//! The submit_sm PDUs built for a message.

use super::Smpp;
use crate::{
    config::{Secret, SmppConfig},
    connectors::sms::{provider::Mt, segments},
};

fn smpp(message_payload: bool) -> Smpp {
    Smpp::new(
        SmppConfig {
            server: "127.0.0.1:2775".into(),
            system_id: "bridge".into(),
            password: Secret::new("pw"),
            system_type: String::new(),
            enquire_link_interval: std::time::Duration::from_secs(30),
            response_timeout: std::time::Duration::from_secs(10),
            message_payload,
            reassembly_timeout: std::time::Duration::from_secs(3600),
        },
        None,
    )
}

fn submits(smpp: &Smpp, key: i64, text: &str) -> Vec<super::SubmitSm> {
    let plan = segments::plan(text);
    smpp.submits(&Mt {
        key,
        from: "+33100000000",
        to: "+33612345678",
        text,
        plan: &plan,
    })
}

#[test]
fn a_short_gsm_text_is_one_unpacked_submit_sm_with_escapes() {
    let s = submits(&smpp(false), 1, "[5€]");
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].data_coding, s[0].esm_class, s[0].registered_delivery),
        (0, 0, 1)
    );
    assert_eq!(
        s[0].short_message,
        [0x1b, 0x3c, 0x35, 0x1b, 0x65, 0x1b, 0x3e]
    );
    assert_eq!(s[0].destination, "+33612345678");
}

#[test]
fn unicode_goes_as_ucs2() {
    let s = submits(&smpp(false), 1, "Ça 😀");
    assert_eq!(s[0].data_coding, 8);
    assert_eq!(
        s[0].short_message,
        "Ça 😀"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect::<Vec<_>>()
    );
}

#[test]
fn a_long_text_goes_in_parts_with_a_concatenation_udh() {
    let text = "x".repeat(300);
    let s = submits(&smpp(false), 0x1234, &text);
    assert_eq!(s.len(), 2);
    for (i, sm) in s.iter().enumerate() {
        assert_eq!(sm.esm_class, 0x40);
        let seq = u8::try_from(i + 1).expect("small");
        assert_eq!(&sm.short_message[..6], &[5, 0, 3, 0x34, 2, seq]);
    }
    assert_eq!(s[0].short_message.len(), 6 + 153);
    assert_eq!(s[1].short_message.len(), 6 + 147);
}

#[test]
fn with_message_payload_a_long_text_is_one_submit_sm() {
    let text = "y".repeat(300);
    let s = submits(&smpp(true), 1, &text);
    assert_eq!(s.len(), 1);
    assert!(s[0].short_message.is_empty());
    assert_eq!(s[0].message_payload.as_deref(), Some(text.as_bytes()));
    assert_eq!(s[0].esm_class, 0);
}
