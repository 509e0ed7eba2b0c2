//! SMPP 3.4 as the SMS gateway: passerelle is an ESME bound as transceiver to the SMSC.
//!
//! - **Out:** a text goes as one submit_sm (GSM 03.38 unpacked, data_coding 0; or UCS-2,
//!   data_coding 8), or, when long, as parts with a concatenation UDH (esm_class 0x40) — or in
//!   one submit_sm with the message_payload TLV if `message_payload` is set. Each asks for a
//!   delivery receipt. The SMSC's id of each part it took is stored before its response is
//!   acted on, so receipts after a restart still find their message and a retry (even after a
//!   crash) sends only the parts not taken yet. ESME_RTHROTTLED and ESME_RMSGQFUL are retried later; other refusals are final.
//! - **In:** deliver_sm is an incoming SMS or a receipt, matched to the message by the SMSC's
//!   message id; it is answered only once stored. Parts of a concatenated SMS are stored one by
//!   one and the whole goes on once complete; parts waiting longer than `reassembly_timeout`
//!   go on with a note that the rest never came.
//! - **Link:** enquire_link every `enquire_link_interval`; a silent SMSC, a closed connection
//!   or an unbind drops the link, which is restored with capped backoff. Sends meanwhile fail
//!   as temporary, so they stay in the outbox and go once the link is back.
//!
//! No SMPP crate is used: rusmpp (the maintained one) targets SMPP 5.0 through a large typed
//! API, and its tokio codec ends the stream at the first PDU it cannot decode, while here one
//! bad PDU from the SMSC must be answered and skipped. The few PDUs needed are in [`pdu`].

mod deliver;
mod link;
pub(crate) mod pdu;

use std::{
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use axum::Router;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use self::{
    link::{Request, Session, Track},
    pdu::{Pdu, SubmitSm, concat_udh, id, status},
};
use super::{
    NAME,
    inbound::Hooks,
    provider::{Mt, Provider},
    segments::{Coding, gsm_encode, ucs2_encode},
};
use crate::{
    config::SmppConfig,
    connector::{Health, SendError},
    matrix::backoff,
    store::Store,
};

/// Message ids of sent parts are kept this long for their receipts (SMSCs give up on a
/// message well before).
const KEEP_SENT: Duration = Duration::from_secs(14 * 24 * 3600);

/// State shared by the provider and its link task.
pub(super) struct Shared {
    config: SmppConfig,
    bound: AtomicBool,
    last_error: Mutex<Option<String>>,
    seq: AtomicU32,
    requests: mpsc::Sender<Request>,
    queue: Mutex<Option<mpsc::Receiver<Request>>>,
    /// Where the SMSC's ids of sent parts and incoming parts are kept (`None` when the
    /// provider is only probed).
    store: Option<Store>,
}

impl Shared {
    /// A fresh sequence number (1 to 0x7fffffff, as §3.2 requires).
    fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed) % 0x7fff_ffff + 1
    }

    fn set_error(&self, e: Option<String>) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = e;
        }
    }
}

/// The SMPP provider.
pub(crate) struct Smpp(std::sync::Arc<Shared>);

impl Smpp {
    /// A provider for `config`, keeping its state in `store`; it connects when the connector
    /// runs.
    pub(crate) fn new(config: SmppConfig, store: Option<Store>) -> Self {
        let (requests, queue) = mpsc::channel(64);
        Self(std::sync::Arc::new(Shared {
            config,
            bound: AtomicBool::new(false),
            last_error: Mutex::new(None),
            seq: AtomicU32::new(0),
            requests,
            queue: Mutex::new(Some(queue)),
            store,
        }))
    }

    /// The submit_sm PDUs of `mt`, in order.
    fn submits(&self, mt: &Mt<'_>) -> Vec<SubmitSm> {
        let (data_coding, encode): (u8, fn(&str) -> Vec<u8>) = match mt.plan.coding {
            Coding::Gsm7 => (0, |t| gsm_encode(t).unwrap_or_else(|| ucs2_encode(t))),
            Coding::Ucs2 => (8, ucs2_encode),
        };
        let base = SubmitSm {
            source: mt.from.to_owned(),
            destination: mt.to.to_owned(),
            esm_class: 0,
            registered_delivery: 0x01,
            data_coding,
            short_message: Vec::new(),
            message_payload: None,
        };
        let parts = &mt.plan.parts;
        if parts.len() <= 1 {
            return vec![SubmitSm {
                short_message: encode(mt.text),
                ..base
            }];
        }
        if self.0.config.message_payload {
            return vec![SubmitSm {
                message_payload: Some(encode(mt.text)),
                ..base
            }];
        }
        let total = u8::try_from(parts.len()).unwrap_or(u8::MAX);
        // The reference only has to differ between messages in flight to one recipient.
        let reference = (mt.key & 0xff) as u8;
        parts
            .iter()
            .zip(1..=total)
            .map(|(part, seq)| {
                let mut short_message = concat_udh(reference, total, seq).to_vec();
                short_message.extend_from_slice(&encode(part));
                SubmitSm {
                    esm_class: 0x40,
                    short_message,
                    ..base.clone()
                }
            })
            .collect()
    }

    /// Writes one request through the link and waits for its response.
    async fn request(&self, pdu: Pdu, track: Option<Track>) -> Result<Pdu, SendError> {
        let down = || SendError::Transient {
            reason: format!("the SMPP link to {} is down", self.0.config.server),
            retry_after: None,
        };
        if !self.0.bound.load(Ordering::Relaxed) {
            return Err(down());
        }
        let (reply, answer) = oneshot::channel();
        self.0
            .requests
            .send(Request { pdu, track, reply })
            .await
            .map_err(|_| down())?;
        match tokio::time::timeout(self.0.config.response_timeout, answer).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(down()),
            Err(_) => Err(SendError::Transient {
                reason: "the SMSC did not answer in time".into(),
                retry_after: None,
            }),
        }
    }

    /// The parts of the message of `key` the SMSC already took (before a failure or crash).
    async fn accepted(&self, key: i64) -> Result<Vec<usize>, SendError> {
        let Some(store) = &self.0.store else {
            return Ok(Vec::new());
        };
        store
            .smpp_sent_parts(NAME, key)
            .await
            .map_err(|e| SendError::Transient {
                reason: format!("cannot read the parts already sent: {e}"),
                retry_after: None,
            })
    }

    /// Keeps the link bound (reconnecting with backoff) until `shutdown`.
    async fn serve(
        &self,
        hooks: &Hooks,
        store: &Store,
        queue: &mut mpsc::Receiver<Request>,
        shutdown: &CancellationToken,
    ) {
        let mut attempt = 0;
        while !shutdown.is_cancelled() {
            let opened = tokio::select! {
                s = Session::open(&self.0) => s,
                () = shutdown.cancelled() => break,
            };
            match opened {
                Ok(session) => {
                    attempt = 0;
                    self.0.bound.store(true, Ordering::Relaxed);
                    self.0.set_error(None);
                    tracing::info!(connector = "sms", server = %self.0.config.server, "Bound to the SMSC.");
                    hooks.back_online();
                    let ended = session.serve(&self.0, hooks, store, queue, shutdown).await;
                    self.0.bound.store(false, Ordering::Relaxed);
                    // Requests not written yet fail now (their senders retry later).
                    while queue.try_recv().is_ok() {}
                    match ended {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(connector = "sms", error = %e, "Lost the SMSC; reconnecting.");
                            self.0.set_error(Some(e));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(connector = "sms", error = %e, "Cannot bind to the SMSC; retrying.");
                    self.0.set_error(Some(e));
                }
            }
            let delay = backoff(attempt, Duration::from_secs(30), None);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => break,
            }
        }
    }
}

#[async_trait]
impl Provider for Smpp {
    async fn submit(&self, mt: &Mt<'_>) -> Result<(), SendError> {
        let done = self.accepted(mt.key).await?;
        for (i, sm) in self.submits(mt).into_iter().enumerate() {
            if done.contains(&i) {
                continue;
            }
            let pdu = Pdu {
                id: id::SUBMIT_SM,
                status: status::OK,
                seq: self.0.next_seq(),
                body: sm.encode(),
            };
            let track = Track {
                key: mt.key,
                to: mt.to.to_owned(),
                part: i,
            };
            let resp = self.request(pdu, Some(track)).await?;
            match resp.status {
                status::OK => {}
                status::THROTTLED => {
                    return Err(SendError::Transient {
                        reason: "the SMSC is throttling (ESME_RTHROTTLED)".into(),
                        retry_after: Some(Duration::from_secs(1)),
                    });
                }
                status::QUEUE_FULL => {
                    return Err(SendError::Transient {
                        reason: "the SMSC's queue is full (ESME_RMSGQFUL)".into(),
                        retry_after: Some(Duration::from_secs(5)),
                    });
                }
                s => {
                    return Err(SendError::Permanent {
                        reason: format!("the SMSC refused it (command_status {s:#04x})"),
                    });
                }
            }
        }
        Ok(())
    }

    fn routes(&self, _hooks: Hooks) -> Router {
        Router::new()
    }

    async fn run(&self, hooks: Hooks, shutdown: CancellationToken) -> Result<(), String> {
        let Some(store) = self.0.store.clone() else {
            return Err("the SMPP link needs the database".into());
        };
        let Some(mut queue) = self.0.queue.lock().ok().and_then(|mut q| q.take()) else {
            return Err("the SMPP link is already running".into());
        };
        let (_, ()) = tokio::join!(
            self.serve(&hooks, &store, &mut queue, &shutdown),
            housekeeping(&self.0.config, &hooks, &store, &shutdown)
        );
        if let Ok(mut q) = self.0.queue.lock() {
            *q = Some(queue);
        }
        Ok(())
    }

    fn health(&self) -> Option<Health> {
        if self.0.bound.load(Ordering::Relaxed) {
            return Some(Health::Ok);
        }
        let error = self.0.last_error.lock().ok().and_then(|e| e.clone());
        Some(Health::Down(
            error.unwrap_or_else(|| "not bound to the SMSC yet".to_owned()),
        ))
    }

    async fn probe(&self) -> Health {
        match Session::open(&self.0).await {
            Ok(session) => {
                session.close(&self.0).await;
                Health::Ok
            }
            Err(e) => Health::Down(e),
        }
    }
}

/// Every so often until `shutdown`: bridges incoming parts that waited too long for the rest,
/// forgets parts handed on that long ago and message ids too old to get a receipt.
async fn housekeeping(
    config: &SmppConfig,
    hooks: &Hooks,
    store: &Store,
    shutdown: &CancellationToken,
) {
    let every =
        (config.reassembly_timeout / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        deliver::expire(hooks, store, config.reassembly_timeout).await;
        let cutoff = crate::store::now_ms()
            .saturating_sub(i64::try_from(KEEP_SENT.as_millis()).unwrap_or(i64::MAX));
        if let Err(e) = store.smpp_sent_prune(NAME, cutoff).await {
            tracing::warn!(connector = "sms", error = %e, "Cannot forget old SMSC message ids.");
        }
        let cutoff = crate::store::now_ms().saturating_sub(
            i64::try_from(config.reassembly_timeout.as_millis()).unwrap_or(i64::MAX),
        );
        if let Err(e) = store.smpp_parts_prune(NAME, cutoff).await {
            tracing::warn!(connector = "sms", error = %e, "Cannot forget incoming SMS parts handed on.");
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

#[cfg(test)]
mod tests;
