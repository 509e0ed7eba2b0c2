//! What gateways report, turned into inbound items: incoming SMS (with the opt-out keywords)
//! and delivery reports (delivered → a read receipt from the contact's ghost, failed → a notice).

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use phonenumber::country;
use sha2::{Digest, Sha256};

use super::{NAME, number};
use crate::connector::{Inbound, InboundKind, InboundSink};

/// An incoming SMS (mobile-originated), as the gateway reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mo {
    /// The contact's number, as the gateway writes it.
    pub(crate) from: String,
    /// The whole (reassembled) text.
    pub(crate) text: String,
    /// The gateway's id for it, if it gives one (used to drop repeated deliveries).
    pub(crate) id: Option<String>,
    /// When it was received (ms since the epoch), if the gateway says.
    pub(crate) timestamp_ms: Option<i64>,
}

/// The state a delivery report gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// Taken by the operator's SMSC (or queued there); nothing to show yet.
    Accepted,
    /// On the handset.
    Delivered,
    /// Will not be delivered, for this reason.
    Failed(String),
}

/// Why a gateway call was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HookError {
    /// The call is malformed (answer 400; the gateway should not retry).
    #[error("{0}")]
    BadInput(String),
    /// passerelle cannot store it now (answer 503; the gateway may retry).
    #[error("{0}")]
    Unavailable(String),
}

/// Keys of messages the gateway refused when they were submitted: the room was told then, so
/// a failure report about them (Kannel sends one too) is not told twice. A report can arrive
/// before the submission's own answer: keys being submitted are tracked too.
#[derive(Default)]
pub(crate) struct Refused {
    refused: Mutex<BTreeSet<i64>>,
    submitting: Mutex<BTreeSet<i64>>,
}

impl Refused {
    /// Remembers at most this many keys (the oldest are forgotten first).
    const KEEP: usize = 10_000;
    /// How long a failure report waits for the submission of its message to finish.
    const WAIT: Duration = Duration::from_secs(10);

    /// The message sent under `key` is being submitted.
    pub(crate) fn submitting(&self, key: i64) {
        if let Ok(mut keys) = self.submitting.lock() {
            keys.insert(key);
        }
    }

    /// The submission of `key` ended, refused or not.
    pub(crate) fn submitted(&self, key: i64, refused: bool) {
        if refused && let Ok(mut keys) = self.refused.lock() {
            keys.insert(key);
            while keys.len() > Self::KEEP {
                keys.pop_first();
            }
        }
        if let Ok(mut keys) = self.submitting.lock() {
            keys.remove(&key);
        }
    }

    /// True if `key` was refused at submission, once any submission in progress has ended.
    async fn was_refused(&self, key: i64) -> bool {
        let deadline = tokio::time::Instant::now() + Self::WAIT;
        while self.submitting.lock().is_ok_and(|keys| keys.contains(&key))
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.refused.lock().is_ok_and(|keys| keys.contains(&key))
    }
}

/// The connector's side of the gateway callbacks; cheap to clone.
#[derive(Clone)]
pub(crate) struct Hooks(Arc<State>);

struct State {
    sink: Arc<dyn InboundSink>,
    region: country::Id,
    opt_out: Vec<String>,
    opt_in: Vec<String>,
    refused: Arc<Refused>,
}

impl Hooks {
    /// Hooks storing into `sink`, reading national numbers in `region`.
    pub(crate) fn new(
        sink: Arc<dyn InboundSink>,
        region: country::Id,
        opt_out: &[String],
        opt_in: &[String],
        refused: Arc<Refused>,
    ) -> Self {
        Self(Arc::new(State {
            sink,
            region,
            opt_out: opt_out.iter().map(|k| fold(k)).collect(),
            opt_in: opt_in.iter().map(|k| fold(k)).collect(),
            refused,
        }))
    }

    /// Says the gateway link is up again, so sends waiting out their backoff go now.
    pub(crate) fn back_online(&self) {
        self.0.sink.back_online(NAME);
    }

    /// Stores an incoming SMS; a text that is an opt-out (or opt-in) keyword also records it.
    pub(crate) async fn mo(&self, mo: Mo) -> Result<(), HookError> {
        let from = number::normalise(&mo.from, self.0.region)
            .map_err(|e| HookError::BadInput(format!("sender: {e}")))?;
        let keyword = fold(&mo.text);
        let opt = if self.0.opt_out.contains(&keyword) {
            Some(true)
        } else if self.0.opt_in.contains(&keyword) {
            Some(false)
        } else {
            None
        };
        if let Some(opted_out) = opt {
            self.0
                .sink
                .set_opt_out(NAME, &from, opted_out, mo.text.trim())
                .await
                .map_err(|e| HookError::Unavailable(e.to_string()))?;
            tracing::info!(
                connector = NAME,
                opted_out,
                "A contact changed their opt-out."
            );
        }
        let remote_id = match &mo.id {
            Some(id) if !id.is_empty() => format!("mo-{id}"),
            _ => {
                let mut hash = Sha256::new();
                hash.update(from.as_bytes());
                hash.update(mo.timestamp_ms.unwrap_or_default().to_be_bytes());
                hash.update(mo.text.as_bytes());
                let digest = hash.finalize();
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("mo-{hex}")
            }
        };
        let inbound = Inbound {
            remote_id,
            conversation: from.clone(),
            sender: from,
            body: mo.text,
            timestamp_ms: mo.timestamp_ms,
            kind: InboundKind::Message,
            ..Inbound::default()
        };
        self.commit(inbound).await
    }

    /// Stores a delivery report about the message sent under `key` to `to`.
    pub(crate) async fn report(&self, key: i64, to: &str, report: Report) -> Result<(), HookError> {
        let to = number::normalise(to, self.0.region)
            .map_err(|e| HookError::BadInput(format!("recipient: {e}")))?;
        let target = super::remote_id(key);
        let (suffix, kind) = match report {
            Report::Accepted => {
                tracing::debug!(connector = NAME, key, "The SMSC accepted a message.");
                return Ok(());
            }
            Report::Delivered => ("delivered", InboundKind::Read { target }),
            Report::Failed(_) if self.0.refused.was_refused(key).await => {
                tracing::debug!(
                    connector = NAME,
                    key,
                    "Failure report of a message refused at submission; already told."
                );
                return Ok(());
            }
            Report::Failed(reason) => (
                "failed",
                InboundKind::DeliveryFailed {
                    target,
                    reason,
                    key: Some(key),
                },
            ),
        };
        let inbound = Inbound {
            remote_id: format!("dlr-{key}-{suffix}"),
            conversation: to.clone(),
            sender: to,
            timestamp_ms: Some(crate::store::now_ms()),
            kind,
            ..Inbound::default()
        };
        self.commit(inbound).await
    }

    async fn commit(&self, inbound: Inbound) -> Result<(), HookError> {
        self.0
            .sink
            .commit(NAME, inbound)
            .await
            .map_err(|e| HookError::Unavailable(e.to_string()))
    }
}

/// A keyword's comparable form: trimmed, without final punctuation, upper case, without the
/// accents of French and other Latin scripts (`Arrêt !` → `ARRET`).
fn fold(text: &str) -> String {
    text.trim()
        .trim_end_matches(['.', '!', ' '])
        .chars()
        .flat_map(char::to_uppercase)
        .map(|c| match c {
            'À' | 'Â' | 'Ä' | 'Á' => 'A',
            'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'Î' | 'Ï' | 'Í' => 'I',
            'Ô' | 'Ö' | 'Ó' => 'O',
            'Ù' | 'Û' | 'Ü' | 'Ú' => 'U',
            'Ç' => 'C',
            other => other,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;
