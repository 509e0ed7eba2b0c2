//! What an SMSC delivers (deliver_sm): delivery receipts, matched to the sent message by the
//! SMSC's message id, and incoming SMS, decoded and reassembled from their UDH parts.

use std::{
    collections::{BTreeMap, VecDeque},
    time::{Duration, Instant},
};

use super::pdu::{DeliverSm, split_udh, status, tag};
use crate::connectors::sms::{
    inbound::{HookError, Hooks, Mo, Report},
    segments::{gsm_decode, ucs2_decode},
};

/// Receipts are matched for this many recent messages at most.
const KEEP_IDS: usize = 50_000;
/// Incomplete concatenated messages are dropped after this long.
const PART_TTL: Duration = Duration::from_secs(3600);

/// SMSC message ids of recent sends: id → (outbox key, recipient).
#[derive(Default)]
pub(super) struct SentIds {
    ids: BTreeMap<String, (i64, String)>,
    order: VecDeque<String>,
}

impl SentIds {
    /// Remembers that the SMSC took part of the message of `key` under `message_id`.
    pub(super) fn insert(&mut self, message_id: String, key: i64, to: String) {
        self.order.push_back(message_id.clone());
        self.ids.insert(message_id, (key, to));
        while self.order.len() > KEEP_IDS {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    fn get(&self, message_id: &str) -> Option<(i64, String)> {
        self.ids.get(message_id).cloned()
    }
}

/// A concatenated message being received: (sender, reference, total).
type PartsKey = (String, u16, u8);

/// When its first part came, and the parts so far by number.
type PartsSoFar = (Instant, BTreeMap<u8, String>);

/// Parts of incoming concatenated messages, waiting for the rest.
#[derive(Default)]
pub(super) struct Reassembly {
    pending: BTreeMap<PartsKey, PartsSoFar>,
}

impl Reassembly {
    /// Adds a part; returns the whole text once every part is there.
    fn add(
        &mut self,
        from: &str,
        reference: u16,
        total: u8,
        seq: u8,
        text: String,
    ) -> Option<String> {
        let now = Instant::now();
        self.pending
            .retain(|_, (first, _)| now.duration_since(*first) < PART_TTL);
        let key = (from.to_owned(), reference, total);
        let entry = self
            .pending
            .entry(key.clone())
            .or_insert_with(|| (now, BTreeMap::new()));
        entry.1.insert(seq, text);
        if entry.1.len() < usize::from(total) {
            return None;
        }
        self.pending
            .remove(&key)
            .map(|(_, parts)| parts.into_values().collect())
    }
}

/// Decodes user data by its data_coding (SMPP 3.4 §5.2.19).
pub(super) fn decode_text(data_coding: u8, data: &[u8]) -> String {
    match data_coding {
        // SMSC default alphabet (GSM 03.38, one septet per octet), or a GSM message class.
        0x00 | 0xf0..=0xf3 => gsm_decode(data),
        0x08 => ucs2_decode(data),
        // IA5/ASCII, Latin-1, and anything else shown as Latin-1 rather than dropped.
        _ => data.iter().map(|&b| char::from(b)).collect(),
    }
}

/// What a receipt says: its message id and the final state.
fn parse_receipt(d: &DeliverSm) -> Option<(String, Report)> {
    let text = String::from_utf8_lossy(d.user_data()).into_owned();
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(name))
            .map(str::to_owned)
    };
    let id = d
        .tlvs
        .get(&tag::RECEIPTED_MESSAGE_ID)
        .map(|v| String::from_utf8_lossy(v).trim_end_matches('\0').to_owned())
        .filter(|id| !id.is_empty())
        .or_else(|| field("id:"))?;
    let stat = field("stat:").unwrap_or_default();
    let state = d
        .tlvs
        .get(&tag::MESSAGE_STATE)
        .and_then(|v| v.first().copied());
    let err = field("err:").unwrap_or_else(|| "000".to_owned());
    let report = match (state, stat.as_str()) {
        (Some(2), _) | (None, "DELIVRD") => Report::Delivered,
        (Some(1 | 6 | 7), _) | (None, "ENROUTE" | "ACCEPTD" | "UNKNOWN" | "") => Report::Accepted,
        (Some(s), _) => Report::Failed(format!(
            "the operator reported {} (error {err})",
            state_name(s, &stat)
        )),
        (None, other) => Report::Failed(format!("the operator reported {other} (error {err})")),
    };
    Some((id, report))
}

fn state_name(state: u8, stat: &str) -> String {
    if !stat.is_empty() {
        return stat.to_owned();
    }
    match state {
        3 => "EXPIRED",
        4 => "DELETED",
        5 => "UNDELIVERABLE",
        8 => "REJECTED",
        _ => "a failure",
    }
    .to_owned()
}

/// Handles one deliver_sm; returns the command_status to answer with. The answer is sent only
/// after what it carried is stored.
pub(super) async fn handle(
    d: DeliverSm,
    hooks: &Hooks,
    sent: &std::sync::Mutex<SentIds>,
    parts: &std::sync::Mutex<Reassembly>,
) -> u32 {
    let result = if d.is_receipt() {
        let Some((id, report)) = parse_receipt(&d) else {
            tracing::warn!(
                connector = "sms",
                "Skipped a delivery receipt without a message id."
            );
            return status::OK;
        };
        let known = sent.lock().ok().and_then(|s| s.get(&id));
        let Some((key, to)) = known else {
            tracing::debug!(connector = "sms", message_id = %id, "Receipt for a message this process did not send; ignored.");
            return status::OK;
        };
        hooks.report(key, &to, report).await
    } else {
        let from = d.sender();
        let (concat, data) = if d.esm_class & 0x40 != 0 {
            match split_udh(d.user_data()) {
                Ok(split) => split,
                Err(e) => {
                    tracing::warn!(connector = "sms", error = %e, "Skipped an incoming SMS with a bad header.");
                    return status::PERMANENT_APP_ERROR;
                }
            }
        } else {
            (None, d.user_data())
        };
        let text = decode_text(d.data_coding, data);
        let whole = match concat {
            Some(c) if c.total > 1 => {
                let Ok(mut parts) = parts.lock() else {
                    return status::TEMPORARY_APP_ERROR;
                };
                match parts.add(&from, c.reference, c.total, c.seq, text) {
                    Some(whole) => whole,
                    None => return status::OK,
                }
            }
            _ => text,
        };
        hooks
            .mo(Mo {
                from,
                text: whole,
                id: None,
                timestamp_ms: Some(crate::store::now_ms()),
            })
            .await
    };
    match result {
        Ok(()) => status::OK,
        Err(HookError::BadInput(e)) => {
            tracing::warn!(connector = "sms", error = %e, "Skipped an incoming SMS.");
            status::PERMANENT_APP_ERROR
        }
        Err(HookError::Unavailable(e)) => {
            tracing::warn!(connector = "sms", error = %e, "Could not store an incoming SMS; the SMSC will retry.");
            status::TEMPORARY_APP_ERROR
        }
    }
}

#[cfg(test)]
mod tests;
