//! The XMPP connector: passerelle as an external component (XEP-0114) of the organisation's
//! XMPP server. Matrix users speak from JIDs on the component domain; XMPP contacts appear as
//! ghosts. See [`addressing`] for both mappings.

mod addressing;
mod capabilities;
mod inbound;
mod link;
mod muc;
pub(crate) mod stanzas;

use std::{
    collections::{BTreeMap, BTreeSet},
    str::FromStr,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::{
    Stanza,
    jid::Jid,
    parsers::{iq::Iq, message::Message},
};

use self::link::{Incoming, Link};
use crate::{
    config::XmppConnectorConfig,
    connector::{
        Capabilities, Connector, ConnectorCtx, ConnectorError, Edits, Health, Media, Outbound,
        Reactions, Receipts, Redactions, SendError, ThirdPartyProtocol, Typing,
    },
    matrix::backoff,
};

const NAME: &str = "xmpp";

/// A stanza to write, and who waits for the result.
struct Outgoing {
    stanza: Stanza,
    written: oneshot::Sender<Result<(), String>>,
}

/// The XMPP connector.
pub struct XmppConnector {
    config: XmppConnectorConfig,
    outgoing: mpsc::Sender<Outgoing>,
    queue: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
    counter: AtomicU64,
    /// Group chats with a portal.
    rooms: Mutex<BTreeSet<String>>,
    /// Per group chat, the nicks passerelle joined with on the current connection.
    joined: Mutex<BTreeMap<String, BTreeSet<String>>>,
    /// The bridge bot, whose JID holds the bridge's own occupant.
    bot: Mutex<Option<String>>,
    /// Requests (iq) waiting for their answer, by id.
    pending: Mutex<BTreeMap<String, oneshot::Sender<Iq>>>,
}

impl XmppConnector {
    /// Creates the connector; it connects when the runtime starts it.
    pub fn new(config: XmppConnectorConfig) -> Self {
        let (outgoing, queue) = mpsc::channel(64);
        Self {
            config,
            outgoing,
            queue: Mutex::new(Some(queue)),
            connected: AtomicBool::new(false),
            last_error: Mutex::new(None),
            counter: AtomicU64::new(crate::store::now_ms().unsigned_abs()),
            rooms: Mutex::new(BTreeSet::new()),
            joined: Mutex::new(BTreeMap::new()),
            bot: Mutex::new(None),
            pending: Mutex::new(BTreeMap::new()),
        }
    }

    fn set_error(&self, error: Option<String>) {
        if let Ok(mut e) = self.last_error.lock() {
            *e = error;
        }
    }

    /// Serves one connected session until the link fails or shutdown.
    async fn session(
        &self,
        link: &mut Link,
        queue: &mut mpsc::Receiver<Outgoing>,
        ctx: &ConnectorCtx,
    ) -> Result<(), String> {
        let mut pings = 0u64;
        loop {
            tokio::select! {
                () = ctx.shutdown.cancelled() => {
                    let _ = link.shutdown().await;
                    return Ok(());
                }
                Some(out) = queue.recv() => {
                    let result = link::write(link, out.stanza).await;
                    let failed = result.is_err();
                    let _ = out.written.send(result.clone());
                    if failed {
                        return result;
                    }
                }
                incoming = link::read(link) => match incoming? {
                    Incoming::Stanza(stanza) => {
                        for reply in self.handle(*stanza, ctx).await {
                            link::write(link, reply).await?;
                        }
                    }
                    Incoming::Nothing => {}
                    Incoming::Idle => {
                        pings += 1;
                        link::write(link, self.keepalive(pings)).await?;
                    }
                },
            }
        }
    }

    /// A ping to ourselves through the server, so silence is noticed.
    fn keepalive(&self, n: u64) -> Stanza {
        let domain = Jid::from_str(&self.config.domain).ok();
        let ping = stanzas::element("ping", "urn:xmpp:ping", &[]);
        Stanza::Iq(Iq::Get {
            from: domain.clone(),
            to: domain,
            id: format!("keepalive-{n}"),
            payload: ping,
        })
    }

    /// Handles one stanza; returns the stanzas to answer with.
    async fn handle(&self, stanza: Stanza, ctx: &ConnectorCtx) -> Vec<Stanza> {
        match stanza {
            Stanza::Message(m) => self.handle_message(m, ctx).await.into_iter().collect(),
            Stanza::Presence(p) => {
                if self.handle_occupant(&p, ctx).await {
                    return Vec::new();
                }
                self.handle_presence(p)
            }
            Stanza::Iq(iq) => {
                let answer_id = match &iq {
                    Iq::Result { id, .. } | Iq::Error { id, .. } => Some(id.clone()),
                    _ => None,
                };
                let waiting = answer_id.and_then(|id| self.pending.lock().ok()?.remove(&id));
                match waiting {
                    Some(waiter) => {
                        let _ = waiter.send(iq);
                        Vec::new()
                    }
                    None => self.handle_iq(iq),
                }
            }
        }
    }

    /// Sends a request and waits (at most 5 s) for its answer.
    async fn request(&self, to: Jid, payload: tokio_xmpp::minidom::Element) -> Option<Iq> {
        let id = self.fresh_id("iq");
        let from = Jid::from_str(&self.config.domain).ok();
        let (waiter, answer) = oneshot::channel();
        self.pending.lock().ok()?.insert(id.clone(), waiter);
        let sent = self
            .write_stanza(Stanza::Iq(Iq::Get {
                from,
                to: Some(to),
                id: id.clone(),
                payload,
            }))
            .await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(Duration::from_secs(5), answer)
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        };
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&id);
        }
        answer
    }

    /// The full name (else the nickname) in a contact's vCard (XEP-0054).
    async fn vcard_name(&self, contact: &str) -> Option<String> {
        let to = Jid::from_str(contact).ok()?;
        let Iq::Result {
            payload: Some(vcard),
            ..
        } = self
            .request(to, stanzas::element("vCard", "vcard-temp", &[]))
            .await?
        else {
            return None;
        };
        ["FN", "NICKNAME"]
            .into_iter()
            .filter_map(|field| {
                vcard
                    .get_child(field, "vcard-temp")
                    .map(|e| e.text().trim().to_owned())
            })
            .find(|name| !name.is_empty())
    }

    /// The stanza id part of a remote id (`contact/id`).
    fn stanza_id(remote_id: &str) -> &str {
        remote_id.split_once('/').map_or(remote_id, |(_, id)| id)
    }

    /// Sender and recipient JIDs for a message from a Matrix user in `conversation`.
    fn route(&self, conversation: &str, user_id: &str) -> Result<(Jid, Jid), SendError> {
        let (contact, _) = addressing::split_conversation(conversation);
        let to = Jid::from_str(contact).map_err(|e| SendError::Permanent {
            reason: format!("invalid JID {contact}: {e}"),
        })?;
        let from = addressing::user_jid(user_id, &self.config.domain)
            .and_then(|j| Jid::from_str(&j).ok())
            .ok_or_else(|| SendError::Permanent {
                reason: format!("{user_id} has no XMPP address"),
            })?;
        Ok((from, to))
    }

    /// Writes a message through the live link and waits until it is on the wire.
    async fn write(&self, message: Message) -> Result<(), SendError> {
        self.write_stanza(Stanza::Message(message)).await
    }

    /// Writes any stanza through the live link and waits until it is on the wire.
    async fn write_stanza(&self, stanza: Stanza) -> Result<(), SendError> {
        if !self.connected.load(Ordering::Relaxed) {
            return Err(SendError::Transient {
                reason: "not connected to the XMPP server".into(),
                retry_after: None,
            });
        }
        let (written, done) = oneshot::channel();
        self.outgoing
            .send(Outgoing { stanza, written })
            .await
            .map_err(|_| SendError::Transient {
                reason: "the XMPP link is restarting".into(),
                retry_after: None,
            })?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SendError::Transient {
                reason: e,
                retry_after: None,
            }),
            Err(_) => Err(SendError::Transient {
                reason: "the XMPP link closed before the message was written".into(),
                retry_after: None,
            }),
        }
    }

    /// A fresh id for a stanza that is not itself a message (markers, chat states).
    fn fresh_id(&self, what: &str) -> String {
        format!(
            "passerelle-{what}-{}",
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }
}

#[async_trait]
impl Connector for XmppConnector {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        let max = usize::try_from(self.config.max_message_size.as_u64()).ok();
        Capabilities {
            formatted: false,
            media: false,
            max_body_bytes: max,
            sender_names: false,
        }
    }

    async fn run(&self, ctx: ConnectorCtx) -> Result<(), ConnectorError> {
        if let Ok(mut bot) = self.bot.lock() {
            *bot = Some(ctx.bot.clone());
        }
        let Some(mut queue) = self.queue.lock().ok().and_then(|mut q| q.take()) else {
            return Err(ConnectorError(
                "the XMPP connector is already running".into(),
            ));
        };
        let mut attempt = 0;
        while !ctx.shutdown.is_cancelled() {
            let connected = tokio::select! {
                c = link::connect(&self.config.server, &self.config.domain, self.config.secret.expose()) => c,
                () = ctx.shutdown.cancelled() => break,
            };
            match connected {
                Ok(mut link) => {
                    attempt = 0;
                    if let Err(e) = self.join_rooms(&mut link).await {
                        tracing::warn!(connector = NAME, error = %e, "Could not join the group chats.");
                    }
                    self.connected.store(true, Ordering::Relaxed);
                    self.set_error(None);
                    tracing::info!(connector = NAME, domain = %self.config.domain, "Connected to the XMPP server.");
                    ctx.inbound.back_online(NAME);
                    let ended = self.session(&mut link, &mut queue, &ctx).await;
                    self.connected.store(false, Ordering::Relaxed);
                    match ended {
                        Ok(()) => break,
                        Err(e) => {
                            tracing::warn!(connector = NAME, error = %e, "Lost the XMPP server; reconnecting.");
                            self.set_error(Some(e));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(connector = NAME, error = %e, "Cannot reach the XMPP server; retrying.");
                    self.set_error(Some(e));
                }
            }
            let delay = backoff(attempt, Duration::from_secs(30), None);
            attempt = attempt.saturating_add(1);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = ctx.shutdown.cancelled() => break,
            }
        }
        if let Ok(mut q) = self.queue.lock() {
            *q = Some(queue);
        }
        Ok(())
    }

    async fn send(&self, message: &Outbound) -> Result<String, SendError> {
        if let Some(room) = addressing::muc_room(&message.conversation) {
            return self.send_groupchat(room, message).await;
        }
        let (from, to) = self.route(&message.conversation, &message.sender.user_id)?;
        let max = usize::try_from(self.config.max_message_size.as_u64()).unwrap_or(usize::MAX);
        if message.body.len() > max {
            return Err(SendError::Permanent {
                reason: format!(
                    "the message is {} bytes, over the {} XMPP limit",
                    message.body.len(),
                    self.config.max_message_size
                ),
            });
        }
        let id = format!("passerelle-{}", message.key);
        let contact = to.to_bare().to_string();
        let (body, quote_len) = match (&message.reply_to, &message.reply_quote) {
            (Some(_), Some(quote)) => {
                let (body, len) = stanzas::quoted(quote, &message.body);
                (body, Some(len))
            }
            _ => (message.body.clone(), None),
        };
        let mut stanza = stanzas::chat(from, to, &id, &body);
        if let Some(target) = &message.reply_to {
            stanzas::add_reply(&mut stanza, &contact, Self::stanza_id(target), quote_len);
        }
        self.write(stanza).await?;
        Ok(format!("{contact}/{id}"))
    }

    fn edits(&self) -> Option<&dyn Edits> {
        Some(self)
    }

    fn media(&self) -> Option<&dyn Media> {
        Some(self)
    }

    fn reactions(&self) -> Option<&dyn Reactions> {
        Some(self)
    }

    fn redactions(&self) -> Option<&dyn Redactions> {
        Some(self)
    }

    fn typing(&self) -> Option<&dyn Typing> {
        Some(self)
    }

    fn receipts(&self) -> Option<&dyn Receipts> {
        Some(self)
    }

    fn resolve_identifier(&self, input: &str) -> Result<String, String> {
        let contact = addressing::contact(input)?;
        if contact.ends_with(&format!("@{}", self.config.domain.to_lowercase())) {
            return Err(format!("{contact} is a Matrix user's own XMPP address"));
        }
        Ok(contact)
    }

    fn contact_of<'a>(&self, conversation: &'a str) -> &'a str {
        addressing::split_conversation(conversation).0
    }

    fn conversation_for(&self, contact: &str, inviter: &str) -> String {
        match contact.split_once('@') {
            Some((_, domain)) if self.is_muc_domain(domain) => {
                addressing::muc_conversation(contact)
            }
            _ => addressing::conversation(contact, inviter),
        }
    }

    fn is_group(&self, conversation: &str) -> bool {
        addressing::muc_room(conversation).is_some()
    }

    fn open_conversation(&self, conversation: &str) {
        let Some(room) = addressing::muc_room(conversation) else {
            return;
        };
        let fresh = self
            .rooms
            .lock()
            .is_ok_and(|mut r| r.insert(room.to_owned()));
        if !fresh || !self.connected.load(Ordering::Relaxed) {
            return; // Joined when the link (re)connects.
        }
        let Some((jid, nick)) = self.bridge_occupant() else {
            return;
        };
        if let Some(presence) = Self::join_presence(&jid, room, &nick) {
            let (written, _) = oneshot::channel();
            self.remember_nick(room, &nick);
            if self
                .outgoing
                .try_send(Outgoing {
                    stanza: presence,
                    written,
                })
                .is_err()
            {
                tracing::warn!(
                    connector = NAME,
                    room,
                    "Could not queue the group chat join; it happens at the next connection."
                );
            }
        }
    }

    async fn display_name(&self, contact: &str) -> Option<String> {
        // Group chat occupants are named by their nick; rooms by their address.
        if contact.contains('/')
            || contact
                .split_once('@')
                .is_some_and(|(_, d)| self.is_muc_domain(d))
        {
            return None;
        }
        self.vcard_name(contact).await
    }

    fn protocol(&self) -> Option<ThirdPartyProtocol> {
        Some(ThirdPartyProtocol {
            id: NAME.to_owned(),
            user_field: "jid".to_owned(),
            regexp: "[^@/ ]+@[^@/ ]+".to_owned(),
            placeholder: "someone@example.org".to_owned(),
            description: "XMPP".to_owned(),
        })
    }

    async fn health(&self) -> Health {
        if self.connected.load(Ordering::Relaxed) {
            return Health::Ok;
        }
        let error = self.last_error.lock().ok().and_then(|e| e.clone());
        Health::Down(error.unwrap_or_else(|| "not connected yet".to_owned()))
    }

    async fn probe(&self) -> Health {
        match link::connect(
            &self.config.server,
            &self.config.domain,
            self.config.secret.expose(),
        )
        .await
        {
            Ok(mut link) => {
                let _ = link.shutdown().await;
                Health::Ok
            }
            // passerelle itself holds the link: the server is reachable and the secret works.
            Err(e) if e == link::ALREADY_CONNECTED => {
                Health::Degraded(format!("{e}; fine if passerelle is running"))
            }
            Err(e) => Health::Down(e),
        }
    }
}
