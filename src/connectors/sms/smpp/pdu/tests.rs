//! PDU layouts checked octet by octet against SMPP v3.4 (§3.2 header, §4 bodies, §5.3 TLVs).

use super::{
    BadLength, Concat, DeliverSm, Pdu, SubmitSm, bind_transceiver, concat_udh, decode, id,
    message_id, split_udh, status, tag,
};

#[test]
fn enquire_link_is_a_bare_16_octet_header() {
    let pdu = Pdu::bare(id::ENQUIRE_LINK, status::OK, 1);
    assert_eq!(
        pdu.encode(),
        [0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1]
    );
    let resp = pdu.response(status::OK, Vec::new());
    assert_eq!(resp.id, 0x8000_0015);
    assert!(resp.is_response() && !pdu.is_response());
}

#[test]
fn bind_transceiver_body_follows_section_4_1_5() {
    let pdu = Pdu {
        id: id::BIND_TRANSCEIVER,
        status: 0,
        seq: 7,
        body: bind_transceiver("bridge", "pw", ""),
    };
    let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 7];
    expected.extend_from_slice(b"bridge\0pw\0\0");
    expected.extend_from_slice(&[0x34, 0, 0, 0]);
    let len = u8::try_from(expected.len()).expect("short");
    expected[3] = len;
    assert_eq!(pdu.encode(), expected);
}

#[test]
fn submit_sm_body_follows_section_4_4_1() {
    let sm = SubmitSm {
        source: "+33100000000".into(),
        destination: "+33612345678".into(),
        esm_class: 0x40,
        registered_delivery: 1,
        data_coding: 8,
        short_message: vec![5, 0, 3, 9, 2, 1, 0, 0x61],
        message_payload: None,
    };
    let mut expected = vec![0]; // service_type ""
    expected.extend_from_slice(&[1, 1]);
    expected.extend_from_slice(b"33100000000\0");
    expected.extend_from_slice(&[1, 1]);
    expected.extend_from_slice(b"33612345678\0");
    expected.extend_from_slice(&[0x40, 0, 0]); // esm_class, protocol_id, priority_flag
    expected.extend_from_slice(&[0, 0]); // schedule_delivery_time, validity_period
    expected.extend_from_slice(&[1, 0, 8, 0]); // registered_delivery, replace, data_coding, default id
    expected.extend_from_slice(&[8, 5, 0, 3, 9, 2, 1, 0, 0x61]);
    assert_eq!(sm.encode(), expected);

    let long = SubmitSm {
        short_message: Vec::new(),
        message_payload: Some(vec![0x41; 300]),
        esm_class: 0,
        ..sm
    };
    let body = long.encode();
    let tail = &body[body.len() - 304..];
    assert_eq!(
        &tail[..4],
        &[0x04, 0x24, 0x01, 0x2c],
        "message_payload tag and length 300"
    );
    assert_eq!(body[body.len() - 305], 0, "sm_length 0");
}

#[test]
fn decode_takes_whole_pdus_and_refuses_impossible_lengths() {
    let mut buf = Pdu::bare(id::ENQUIRE_LINK, 0, 3).encode();
    buf.extend_from_slice(&Pdu::bare(id::UNBIND, 0, 4).encode()[..10]);
    let first = decode(&mut buf).expect("valid").expect("whole");
    assert_eq!((first.id, first.seq), (id::ENQUIRE_LINK, 3));
    assert_eq!(decode(&mut buf), Ok(None), "half a PDU waits for more");
    assert_eq!(buf.len(), 10);
    let mut bad = vec![0, 0, 0, 8, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(decode(&mut bad), Err(BadLength(8)));
    let mut huge = vec![0x7f, 0, 0, 0];
    assert!(decode(&mut huge).is_err());
}

#[test]
fn submit_sm_resp_carries_the_message_id() {
    assert_eq!(message_id(b"0000002a\0").as_deref(), Ok("0000002a"));
    assert_eq!(message_id(b"").as_deref(), Ok(""));
    assert!(message_id(b"no-nul").is_err());
}

/// A deliver_sm body as section 4.6.1 lays it out.
fn deliver_body(esm_class: u8, data_coding: u8, sm: &[u8], tlvs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut b = vec![0, 1, 1];
    b.extend_from_slice(b"33612345678\0");
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(b"33100000000\0");
    b.extend_from_slice(&[esm_class, 0, 0, 0, 0, 0, 0, data_coding, 0]);
    b.push(u8::try_from(sm.len()).expect("short"));
    b.extend_from_slice(sm);
    for (t, v) in tlvs {
        b.extend_from_slice(&t.to_be_bytes());
        b.extend_from_slice(&u16::try_from(v.len()).expect("short").to_be_bytes());
        b.extend_from_slice(v);
    }
    b
}

#[test]
fn deliver_sm_parses_an_incoming_sms() {
    let body = deliver_body(0, 0, b"Hi", &[]);
    let d = DeliverSm::parse(&body).expect("valid");
    assert_eq!(d.sender(), "+33612345678");
    assert_eq!(d.destination, "33100000000");
    assert!(!d.is_receipt());
    assert_eq!(d.user_data(), b"Hi");
    let with_payload = DeliverSm::parse(&deliver_body(
        0,
        8,
        b"",
        &[(tag::MESSAGE_PAYLOAD, &[0, 0x41])],
    ))
    .expect("valid");
    assert_eq!(with_payload.user_data(), &[0, 0x41]);
}

#[test]
fn deliver_sm_parses_a_receipt_with_its_tlvs() {
    let text = b"id:0000002a sub:001 dlvrd:001 submit date:2401011200 done date:2401011200 stat:DELIVRD err:000 text:";
    let body = deliver_body(
        0x04,
        0,
        text,
        &[
            (tag::RECEIPTED_MESSAGE_ID, b"0000002a\0"),
            (tag::MESSAGE_STATE, &[2]),
        ],
    );
    let d = DeliverSm::parse(&body).expect("valid");
    assert!(d.is_receipt());
    assert_eq!(d.tlvs[&tag::RECEIPTED_MESSAGE_ID], b"0000002a\0");
    assert_eq!(d.tlvs[&tag::MESSAGE_STATE], [2]);
}

#[test]
fn malformed_deliver_sm_bodies_are_errors_not_panics() {
    let body = deliver_body(0, 0, b"Hi", &[]);
    for cut in 0..body.len() {
        assert!(DeliverSm::parse(&body[..cut]).is_err(), "cut at {cut}");
    }
    let mut bad_tlv = body.clone();
    bad_tlv.extend_from_slice(&[0x04, 0x24, 0x00, 0x09, 1]);
    assert!(DeliverSm::parse(&bad_tlv).is_err());
    let mut long_sm = body;
    let at = long_sm.len() - 3;
    long_sm[at] = 200;
    assert!(DeliverSm::parse(&long_sm).is_err());
}

#[test]
fn udh_concatenation_with_8_and_16_bit_references() {
    let mut data = concat_udh(0x42, 2, 1).to_vec();
    data.extend_from_slice(b"abc");
    let (concat, text) = split_udh(&data).expect("valid");
    assert_eq!(
        concat,
        Some(Concat {
            reference: 0x42,
            total: 2,
            seq: 1
        })
    );
    assert_eq!(text, b"abc");
    let sixteen = [6, 0x08, 4, 0x12, 0x34, 3, 2, b'x'];
    let (concat, text) = split_udh(&sixteen).expect("valid");
    assert_eq!(
        concat,
        Some(Concat {
            reference: 0x1234,
            total: 3,
            seq: 2
        })
    );
    assert_eq!(text, b"x");
    // Another IE only (e.g. a port address): no concatenation.
    let other = [4, 0x05, 2, 0x0b, 0x84, b'y'];
    assert_eq!(split_udh(&other).expect("valid"), (None, &b"y"[..]));
    assert!(split_udh(&[9, 0, 3]).is_err());
    assert!(split_udh(&[3, 0x00, 3, 1]).is_err());
    assert!(split_udh(&[]).is_err());
}
