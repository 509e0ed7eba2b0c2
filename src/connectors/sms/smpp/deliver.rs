//! What an SMSC delivers (deliver_sm): delivery receipts, matched to the sent message by the
//! SMSC's message id, and incoming SMS, decoded and reassembled from their UDH parts.

use super::pdu::{DeliverSm, split_udh, status, tag};
use crate::{
    connectors::sms::{
        NAME,
        inbound::{HookError, Hooks, Mo, Report},
        segments::{gsm_decode, ucs2_decode},
    },
    store::{PartsSet, Store, StoredPart},
};

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
/// after what it carried is stored: a receipt or a whole SMS in the runtime's inbox, a part of a
/// concatenated SMS in `store` (the whole goes to the runtime once every part is there).
pub(super) async fn handle(d: DeliverSm, hooks: &Hooks, store: &Store) -> u32 {
    let result = if d.is_receipt() {
        let Some((id, report)) = parse_receipt(&d) else {
            tracing::warn!(
                connector = "sms",
                "Skipped a delivery receipt without a message id."
            );
            return status::OK;
        };
        let known = match store.smpp_sent(NAME, &id).await {
            Ok(known) => known,
            Err(e) => {
                tracing::warn!(connector = "sms", error = %e, "Cannot read the sent message ids; the SMSC will retry the receipt.");
                return status::TEMPORARY_APP_ERROR;
            }
        };
        let Some((key, to)) = known else {
            tracing::debug!(connector = "sms", message_id = %id, "Receipt for a message passerelle did not send (or sent too long ago); ignored.");
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
        match concat {
            Some(c) if c.total > 1 => {
                let set = PartsSet {
                    sender: from,
                    reference: c.reference,
                    total: c.total,
                };
                add_part(hooks, store, &set, c.seq, &text).await
            }
            _ => {
                hooks
                    .mo(Mo {
                        from,
                        text,
                        id: None,
                        timestamp_ms: Some(crate::store::now_ms()),
                    })
                    .await
            }
        }
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

/// Stores part `seq` of `set`; once every part is stored, hands the whole SMS to the runtime
/// and marks the parts done (kept a while to recognise a part the SMSC delivers again).
async fn add_part(
    hooks: &Hooks,
    store: &Store,
    set: &PartsSet,
    seq: u8,
    text: &str,
) -> Result<(), HookError> {
    let unavailable = |e: crate::store::Error| HookError::Unavailable(e.to_string());
    let Some(parts) = store
        .smpp_part_insert(NAME, set, seq, text)
        .await
        .map_err(unavailable)?
    else {
        tracing::debug!(
            connector = "sms",
            "A part of an SMS already handed on came again; acknowledged."
        );
        return Ok(());
    };
    if parts.len() < usize::from(set.total) {
        return Ok(());
    }
    let whole = parts.iter().map(|p| p.body.as_str()).collect();
    hooks.mo(assembled(set, &parts, whole, "")).await?;
    store.smpp_parts_done(NAME, set).await.map_err(unavailable)
}

/// The SMS made of `parts`: its id depends only on the set and when its first part came, so
/// handing it on again (after a crash before the parts were deleted) is recognised as a repeat.
fn assembled(set: &PartsSet, parts: &[StoredPart], text: String, suffix: &str) -> Mo {
    let first = parts
        .iter()
        .map(|p| p.received_at)
        .min()
        .unwrap_or_default();
    Mo {
        from: set.sender.clone(),
        text,
        id: Some(format!(
            "smpp-{}-{}-{}-{first}{suffix}",
            set.sender, set.reference, set.total
        )),
        timestamp_ms: Some(first),
    }
}

/// The text of `parts` with `[…]` where parts are missing.
fn with_gaps(parts: &[StoredPart], total: u8) -> String {
    let mut text = String::new();
    let mut next = 1;
    for p in parts {
        if p.seq != next {
            text.push_str("[…]");
        }
        text.push_str(&p.body);
        next = p.seq.saturating_add(1);
    }
    if next <= total {
        text.push_str("[…]");
    }
    text
}

/// Bridges the parts of concatenated SMS whose first part came more than `timeout` ago, with a
/// note that the rest never arrived, and deletes them.
pub(super) async fn expire(hooks: &Hooks, store: &Store, timeout: std::time::Duration) {
    let cutoff = crate::store::now_ms()
        .saturating_sub(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX));
    let sets = match store.smpp_parts_expired(NAME, cutoff).await {
        Ok(sets) => sets,
        Err(e) => {
            tracing::warn!(connector = "sms", error = %e, "Cannot read the parts of incoming SMS.");
            return;
        }
    };
    for set in sets {
        let parts = match store.smpp_parts(NAME, &set).await {
            Ok(parts) if !parts.is_empty() => parts,
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(connector = "sms", error = %e, "Cannot read the parts of an incoming SMS.");
                continue;
            }
        };
        let came: Vec<String> = parts.iter().map(|p| p.seq.to_string()).collect();
        tracing::warn!(
            connector = "sms",
            total = set.total,
            parts = %came.join(","),
            "The rest of a long incoming SMS never came; bridging the parts that did (connectors[type=sms].provider.reassembly_timeout)."
        );
        let text = format!(
            "{}\n\n[Only part {} of {} of this SMS arrived; the rest never came.]",
            with_gaps(&parts, set.total),
            came.join(", "),
            set.total
        );
        match hooks.mo(assembled(&set, &parts, text, "-partial")).await {
            Ok(()) => {}
            Err(HookError::BadInput(e)) => {
                tracing::warn!(connector = "sms", error = %e, "Dropped the parts of an incoming SMS.");
            }
            Err(HookError::Unavailable(e)) => {
                tracing::warn!(connector = "sms", error = %e, "Cannot store an incomplete SMS yet; will retry.");
                continue;
            }
        }
        if let Err(e) = store.smpp_parts_delete(NAME, &set).await {
            tracing::warn!(connector = "sms", error = %e, "Cannot delete the parts of an incoming SMS.");
        }
    }
}

#[cfg(test)]
mod tests;
