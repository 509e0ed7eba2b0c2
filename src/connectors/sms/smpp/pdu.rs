//! The SMPP 3.4 PDUs an ESME needs, as bytes (sans-I/O).
//!
//! Every PDU is a 16-octet big-endian header — command_length (header included), command_id,
//! command_status, sequence_number — then a body of mandatory fields (C-octet strings end with
//! NUL; integers are 1 octet) and optional TLVs (tag u16, length u16, value). A response has
//! bit 31 of its command_id set. (SMPP v3.4, sections 3.2, 4 and 5.3.)

use std::collections::BTreeMap;

/// command_id values (SMPP 3.4 §5.1.2.1).
pub(crate) mod id {
    /// A response's command_id is its request's with this bit set.
    pub(crate) const RESPONSE: u32 = 0x8000_0000;
    /// generic_nack.
    pub(crate) const GENERIC_NACK: u32 = 0x8000_0000;
    /// bind_transceiver.
    pub(crate) const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    /// submit_sm.
    pub(crate) const SUBMIT_SM: u32 = 0x0000_0004;
    /// deliver_sm.
    pub(crate) const DELIVER_SM: u32 = 0x0000_0005;
    /// unbind.
    pub(crate) const UNBIND: u32 = 0x0000_0006;
    /// enquire_link.
    pub(crate) const ENQUIRE_LINK: u32 = 0x0000_0015;
}

/// command_status values used here (SMPP 3.4 §5.1.3).
pub(crate) mod status {
    /// ESME_ROK: no error.
    pub(crate) const OK: u32 = 0x00;
    /// ESME_RINVCMDID: invalid command id.
    pub(crate) const INVALID_COMMAND: u32 = 0x03;
    /// ESME_RMSGQFUL: message queue full.
    pub(crate) const QUEUE_FULL: u32 = 0x14;
    /// ESME_RTHROTTLED: throttling error (too many messages).
    pub(crate) const THROTTLED: u32 = 0x58;
    /// ESME_RX_T_APPN: temporary application error, the SMSC should retry.
    pub(crate) const TEMPORARY_APP_ERROR: u32 = 0x64;
    /// ESME_RX_P_APPN: permanent application error, the SMSC should not retry.
    pub(crate) const PERMANENT_APP_ERROR: u32 = 0x65;
}

/// TLV tags used here (SMPP 3.4 §5.3.2).
pub(crate) mod tag {
    /// receipted_message_id (C-octet string).
    pub(crate) const RECEIPTED_MESSAGE_ID: u16 = 0x001e;
    /// message_payload (octets).
    pub(crate) const MESSAGE_PAYLOAD: u16 = 0x0424;
    /// message_state (1 octet).
    pub(crate) const MESSAGE_STATE: u16 = 0x0427;
}

/// The header's length; also the shortest PDU.
pub(crate) const HEADER_LEN: usize = 16;
/// Longest PDU accepted (a message_payload can reach 64 KiB).
pub(crate) const MAX_LEN: usize = 70_000;

/// One PDU: header fields and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pdu {
    /// command_id.
    pub(crate) id: u32,
    /// command_status.
    pub(crate) status: u32,
    /// sequence_number.
    pub(crate) seq: u32,
    /// Everything after the header.
    pub(crate) body: Vec<u8>,
}

/// A stream that cannot be read as PDUs (the link must be dropped).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SMPP command_length {0}")]
pub(crate) struct BadLength(pub(crate) usize);

impl Pdu {
    /// A PDU with an empty body.
    pub(crate) fn bare(id: u32, status: u32, seq: u32) -> Self {
        Self {
            id,
            status,
            seq,
            body: Vec::new(),
        }
    }

    /// The response to this request, with `status` and `body`.
    pub(crate) fn response(&self, status: u32, body: Vec<u8>) -> Self {
        Self {
            id: self.id | id::RESPONSE,
            status,
            seq: self.seq,
            body,
        }
    }

    /// The PDU as it goes on the wire.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let len = u32::try_from(HEADER_LEN + self.body.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        for field in [len, self.id, self.status, self.seq] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        out.extend_from_slice(&self.body);
        out
    }

    /// True for a response (bit 31 of command_id).
    pub(crate) fn is_response(&self) -> bool {
        self.id & id::RESPONSE != 0
    }
}

/// Fuzzing entry point: a byte stream from an SMSC, decoded PDU by PDU as the link reads it.
#[cfg(fuzzing)]
pub(crate) fn fuzz(data: &[u8]) {
    let mut buf = data.to_vec();
    while let Ok(Some(pdu)) = decode(&mut buf) {
        let _ = DeliverSm::parse(&pdu.body);
        let _ = message_id(&pdu.body);
    }
}

/// Takes one whole PDU off the front of `buf`, if it holds one.
pub(crate) fn decode(buf: &mut Vec<u8>) -> Result<Option<Pdu>, BadLength> {
    let Some(len) = buf.get(..4).map(|b| be32(b) as usize) else {
        return Ok(None);
    };
    if !(HEADER_LEN..=MAX_LEN).contains(&len) {
        return Err(BadLength(len));
    }
    if buf.len() < len {
        return Ok(None);
    }
    let pdu = Pdu {
        id: be32(&buf[4..8]),
        status: be32(&buf[8..12]),
        seq: be32(&buf[12..16]),
        body: buf[HEADER_LEN..len].to_vec(),
    };
    buf.drain(..len);
    Ok(Some(pdu))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn c_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// The body of bind_transceiver (§4.1.5): system_id, password, system_type,
/// interface_version 0x34, addr_ton, addr_npi, address_range.
pub(crate) fn bind_transceiver(system_id: &str, password: &str, system_type: &str) -> Vec<u8> {
    let mut body = Vec::new();
    c_string(&mut body, system_id);
    c_string(&mut body, password);
    c_string(&mut body, system_type);
    body.extend_from_slice(&[0x34, 0, 0]);
    c_string(&mut body, "");
    body
}

/// A submit_sm (§4.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubmitSm {
    /// Source address (digits, TON 1 NPI 1 when international).
    pub(crate) source: String,
    /// Destination address.
    pub(crate) destination: String,
    /// esm_class: 0x40 when `short_message` starts with a UDH.
    pub(crate) esm_class: u8,
    /// registered_delivery: 0x01 asks for a receipt on success and failure.
    pub(crate) registered_delivery: u8,
    /// data_coding: 0 SMSC default alphabet (GSM 03.38), 8 UCS-2.
    pub(crate) data_coding: u8,
    /// short_message (at most 254 octets), or empty with `message_payload`.
    pub(crate) short_message: Vec<u8>,
    /// The message_payload TLV, for a long message in one PDU.
    pub(crate) message_payload: Option<Vec<u8>>,
}

/// TON and NPI of an address: international/E.164 for `+…`, else unknown.
fn ton_npi(address: &str) -> (u8, u8, &str) {
    match address.strip_prefix('+') {
        Some(digits) => (1, 1, digits),
        None => (0, 0, address),
    }
}

impl SubmitSm {
    /// The body (service_type empty, protocol_id, priority, schedule and validity left to
    /// the SMSC, no replace, no canned message).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        c_string(&mut body, "");
        let (ton, npi, source) = ton_npi(&self.source);
        body.extend_from_slice(&[ton, npi]);
        c_string(&mut body, source);
        let (ton, npi, destination) = ton_npi(&self.destination);
        body.extend_from_slice(&[ton, npi]);
        c_string(&mut body, destination);
        body.extend_from_slice(&[self.esm_class, 0, 0]);
        c_string(&mut body, "");
        c_string(&mut body, "");
        body.extend_from_slice(&[self.registered_delivery, 0, self.data_coding, 0]);
        let sm = &self.short_message[..self.short_message.len().min(254)];
        body.push(u8::try_from(sm.len()).unwrap_or(254));
        body.extend_from_slice(sm);
        if let Some(payload) = &self.message_payload {
            tlv(&mut body, tag::MESSAGE_PAYLOAD, payload);
        }
        body
    }
}

fn tlv(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    out.extend_from_slice(&tag.to_be_bytes());
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&value[..usize::from(len)]);
}

/// A body that does not follow the PDU's layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {what}")]
pub(crate) struct Malformed {
    /// Which field.
    pub(crate) what: &'static str,
}

/// Reads fields off a body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self, what: &'static str) -> Result<u8, Malformed> {
        let (&b, rest) = self.0.split_first().ok_or(Malformed { what })?;
        self.0 = rest;
        Ok(b)
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed { what });
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    /// A C-octet string of at most `max` octets including its NUL.
    fn c_str(&mut self, max: usize, what: &'static str) -> Result<String, Malformed> {
        let end = self
            .0
            .iter()
            .take(max)
            .position(|&b| b == 0)
            .ok_or(Malformed { what })?;
        let s = String::from_utf8_lossy(&self.0[..end]).into_owned();
        self.0 = &self.0[end + 1..];
        Ok(s)
    }
}

/// The message_id of a submit_sm_resp (§4.4.2); empty if the body is empty (as after an error).
pub(crate) fn message_id(body: &[u8]) -> Result<String, Malformed> {
    if body.is_empty() {
        return Ok(String::new());
    }
    Reader(body).c_str(65, "message_id")
}

/// A deliver_sm (§4.6.1): an incoming SMS or a delivery receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliverSm {
    /// TON of the source address.
    pub(crate) source_ton: u8,
    /// Source address.
    pub(crate) source: String,
    /// Destination address.
    pub(crate) destination: String,
    /// esm_class (0x04: receipt; 0x40: UDH present).
    pub(crate) esm_class: u8,
    /// data_coding.
    pub(crate) data_coding: u8,
    /// short_message.
    pub(crate) short_message: Vec<u8>,
    /// Optional parameters by tag.
    pub(crate) tlvs: BTreeMap<u16, Vec<u8>>,
}

impl DeliverSm {
    /// Parses a deliver_sm body.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Malformed> {
        let mut r = Reader(body);
        r.c_str(6, "service_type")?;
        let source_ton = r.u8("source_addr_ton")?;
        r.u8("source_addr_npi")?;
        let source = r.c_str(21, "source_addr")?;
        r.u8("dest_addr_ton")?;
        r.u8("dest_addr_npi")?;
        let destination = r.c_str(21, "destination_addr")?;
        let esm_class = r.u8("esm_class")?;
        r.u8("protocol_id")?;
        r.u8("priority_flag")?;
        r.c_str(17, "schedule_delivery_time")?;
        r.c_str(17, "validity_period")?;
        r.u8("registered_delivery")?;
        r.u8("replace_if_present_flag")?;
        let data_coding = r.u8("data_coding")?;
        r.u8("sm_default_msg_id")?;
        let sm_length = r.u8("sm_length")?;
        let short_message = r.bytes(usize::from(sm_length), "short_message")?.to_vec();
        let mut tlvs = BTreeMap::new();
        while !r.0.is_empty() {
            let t = r.bytes(2, "TLV tag")?;
            let l = r.bytes(2, "TLV length")?;
            let len = usize::from(u16::from_be_bytes([l[0], l[1]]));
            let value = r.bytes(len, "TLV value")?;
            tlvs.insert(u16::from_be_bytes([t[0], t[1]]), value.to_vec());
        }
        Ok(Self {
            source_ton,
            source,
            destination,
            esm_class,
            data_coding,
            short_message,
            tlvs,
        })
    }

    /// True for an SMSC delivery receipt (message type bits of esm_class = 0b0001).
    pub(crate) fn is_receipt(&self) -> bool {
        self.esm_class & 0x3c == 0x04
    }

    /// The user data: `short_message`, or the message_payload TLV when that is empty.
    pub(crate) fn user_data(&self) -> &[u8] {
        if self.short_message.is_empty() {
            self.tlvs
                .get(&tag::MESSAGE_PAYLOAD)
                .map_or(&[][..], Vec::as_slice)
        } else {
            &self.short_message
        }
    }

    /// The source as E.164 when it is international (TON 1).
    pub(crate) fn sender(&self) -> String {
        if self.source_ton == 1 && !self.source.starts_with('+') {
            format!("+{}", self.source)
        } else {
            self.source.clone()
        }
    }
}

/// The concatenation information element of a UDH: (reference, total, sequence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Concat {
    /// Reference shared by the parts (8 or 16 bits).
    pub(crate) reference: u16,
    /// Number of parts.
    pub(crate) total: u8,
    /// This part's number, from 1.
    pub(crate) seq: u8,
}

/// Splits user data starting with a UDH (first octet = its length) into the concatenation IE
/// (0x00, 8-bit reference, or 0x08, 16-bit reference), if any, and the text octets.
pub(crate) fn split_udh(data: &[u8]) -> Result<(Option<Concat>, &[u8]), Malformed> {
    let what = "user data header";
    let (&len, rest) = data.split_first().ok_or(Malformed { what })?;
    let len = usize::from(len);
    if rest.len() < len {
        return Err(Malformed { what });
    }
    let (mut ies, text) = rest.split_at(len);
    let mut concat = None;
    while let [iei, iel, tail @ ..] = ies {
        let n = usize::from(*iel);
        if tail.len() < n {
            return Err(Malformed { what });
        }
        let value = &tail[..n];
        match (iei, value) {
            (0x00, [reference, total, seq]) => {
                concat = Some(Concat {
                    reference: u16::from(*reference),
                    total: *total,
                    seq: *seq,
                });
            }
            (0x08, [hi, lo, total, seq]) => {
                concat = Some(Concat {
                    reference: u16::from_be_bytes([*hi, *lo]),
                    total: *total,
                    seq: *seq,
                });
            }
            _ => {}
        }
        ies = &tail[n..];
    }
    Ok((concat, text))
}

/// The concatenation UDH of part `seq` of `total` (8-bit reference).
pub(crate) fn concat_udh(reference: u8, total: u8, seq: u8) -> [u8; 6] {
    [0x05, 0x00, 0x03, reference, total, seq]
}

#[cfg(test)]
mod tests;
