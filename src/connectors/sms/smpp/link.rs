//! One bound SMPP session: connect, bind_transceiver, then write requests, match responses by
//! sequence number, answer the SMSC's own requests and keep the link alive with enquire_link.

use std::{collections::BTreeMap, time::Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{mpsc, oneshot},
};
use tokio_util::sync::CancellationToken;

use super::{
    Shared, deliver,
    pdu::{self, DeliverSm, Pdu, id, status},
};
use crate::{
    connectors::sms::{NAME, inbound::Hooks},
    store::Store,
};

/// What a submit_sm stands for: its message id is stored with this before the response is
/// handed on.
pub(super) struct Track {
    /// The outbox key of the message.
    pub(super) key: i64,
    /// The recipient.
    pub(super) to: String,
    /// Which part (from 0).
    pub(super) part: usize,
}

/// A request to write, and who waits for its response.
pub(super) struct Request {
    /// The PDU, its sequence number already assigned.
    pub(super) pdu: Pdu,
    /// For a submit_sm: the outbox key and recipient its message id stands for.
    pub(super) track: Option<Track>,
    /// Gets the response.
    pub(super) reply: oneshot::Sender<Pdu>,
}

/// Requests written and waiting for their response, by sequence number.
type Pending = BTreeMap<u32, (Option<Track>, oneshot::Sender<Pdu>)>;

/// A connected, bound session.
pub(super) struct Session {
    read: OwnedReadHalf,
    write: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl Session {
    /// Connects to the SMSC and binds as transceiver.
    pub(super) async fn open(shared: &Shared) -> Result<Self, String> {
        let c = &shared.config;
        let stream = tokio::time::timeout(c.response_timeout, TcpStream::connect(&c.server))
            .await
            .map_err(|_| format!("connecting to the SMSC at {} timed out", c.server))?
            .map_err(|e| format!("cannot connect to the SMSC at {}: {e}", c.server))?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let mut session = Self {
            read,
            write,
            buf: Vec::new(),
        };
        let seq = shared.next_seq();
        let bind = Pdu {
            id: id::BIND_TRANSCEIVER,
            status: status::OK,
            seq,
            body: pdu::bind_transceiver(&c.system_id, c.password.expose(), &c.system_type),
        };
        session.send(&bind).await?;
        let resp = tokio::time::timeout(c.response_timeout, async {
            loop {
                let pdu = session.next().await?;
                if pdu.seq == seq
                    && (pdu.id == bind.id | id::RESPONSE || pdu.id == id::GENERIC_NACK)
                {
                    return Ok::<_, String>(pdu);
                }
            }
        })
        .await
        .map_err(|_| "the SMSC did not answer the bind".to_owned())??;
        match resp.status {
            status::OK => Ok(session),
            s @ (0x0e | 0x0f) => Err(format!(
                "the SMSC refused the bind (command_status {s:#04x}, invalid password or system_id): check connectors[type=sms].provider.system_id and password"
            )),
            s => Err(format!(
                "the SMSC refused the bind (command_status {s:#04x})"
            )),
        }
    }

    /// Unbinds and waits (at most the response timeout) for the SMSC's answer.
    pub(super) async fn close(mut self, shared: &Shared) {
        let unbind = Pdu::bare(id::UNBIND, status::OK, shared.next_seq());
        if self.send(&unbind).await.is_ok() {
            let _ = tokio::time::timeout(shared.config.response_timeout, async {
                while let Ok(p) = self.next().await {
                    if p.id == id::UNBIND | id::RESPONSE {
                        break;
                    }
                }
            })
            .await;
        }
    }

    async fn send(&mut self, pdu: &Pdu) -> Result<(), String> {
        self.write
            .write_all(&pdu.encode())
            .await
            .map_err(|e| format!("writing to the SMSC: {e}"))
    }

    /// The next whole PDU from the SMSC.
    async fn next(&mut self) -> Result<Pdu, String> {
        loop {
            if let Some(pdu) = pdu::decode(&mut self.buf).map_err(|e| e.to_string())? {
                return Ok(pdu);
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .read
                .read(&mut chunk)
                .await
                .map_err(|e| format!("reading from the SMSC: {e}"))?;
            if n == 0 {
                return Err("the SMSC closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Serves the session until it fails (`Err`) or shutdown (`Ok`, after unbinding).
    pub(super) async fn serve(
        mut self,
        shared: &Shared,
        hooks: &Hooks,
        store: &Store,
        queue: &mut mpsc::Receiver<Request>,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let mut pending = Pending::new();
        let interval = shared.config.enquire_link_interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut unanswered: Option<Instant> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    self.close(shared).await;
                    return Ok(());
                }
                Some(request) = queue.recv() => {
                    if request.reply.is_closed() {
                        continue; // Its sender gave up (timed out): do not send it late.
                    }
                    self.send(&request.pdu).await?;
                    pending.insert(request.pdu.seq, (request.track, request.reply));
                }
                _ = ticker.tick() => {
                    if unanswered.is_some_and(|t| t.elapsed() >= shared.config.response_timeout) {
                        return Err("the SMSC did not answer enquire_link".into());
                    }
                    self.send(&Pdu::bare(id::ENQUIRE_LINK, status::OK, shared.next_seq())).await?;
                    unanswered.get_or_insert_with(Instant::now);
                }
                incoming = self.next() => {
                    let pdu = incoming?;
                    // Any traffic shows the link is alive.
                    unanswered = None;
                    if let Some(answer) = self.dispatch(pdu, hooks, store, &mut pending).await? {
                        self.send(&answer).await?;
                    }
                }
            }
        }
    }

    /// Handles one PDU from the SMSC; returns the answer to write, if any.
    async fn dispatch(
        &mut self,
        pdu: Pdu,
        hooks: &Hooks,
        store: &Store,
        pending: &mut Pending,
    ) -> Result<Option<Pdu>, String> {
        if pdu.is_response() {
            if let Some((track, reply)) = pending.remove(&pdu.seq) {
                if pdu.id == id::SUBMIT_SM | id::RESPONSE
                    && pdu.status == status::OK
                    && let (Some(t), Ok(message_id)) = (track, pdu::message_id(&pdu.body))
                    && let Err(e) = store
                        .smpp_sent_insert(NAME, &message_id, t.key, &t.to, t.part)
                        .await
                {
                    // The SMSC has the part: it is not sent again, but its receipt will not be
                    // matched (nor, after a crash, that it was sent).
                    tracing::warn!(connector = "sms", error = %e, message_id = %message_id, "Cannot store the SMSC's message id.");
                }
                let _ = reply.send(pdu);
            }
            return Ok(None);
        }
        Ok(Some(match pdu.id {
            id::ENQUIRE_LINK => pdu.response(status::OK, Vec::new()),
            id::UNBIND => {
                self.send(&pdu.response(status::OK, Vec::new())).await?;
                return Err("the SMSC unbound".into());
            }
            id::DELIVER_SM => {
                let answer = match DeliverSm::parse(&pdu.body) {
                    Ok(d) => deliver::handle(d, hooks, store).await,
                    Err(e) => {
                        tracing::warn!(connector = "sms", error = %e, "Skipped a malformed deliver_sm.");
                        status::PERMANENT_APP_ERROR
                    }
                };
                // deliver_sm_resp carries an empty message_id.
                pdu.response(answer, vec![0])
            }
            other => {
                tracing::warn!(
                    connector = "sms",
                    command_id = other,
                    "Answered an unexpected SMPP request with generic_nack."
                );
                Pdu::bare(id::GENERIC_NACK, status::INVALID_COMMAND, pdu.seq)
            }
        }))
    }
}
