//! The XMPP connector: passerelle as an external component (XEP-0114) of the organisation's
//! XMPP server. Matrix users speak from JIDs on the component domain; XMPP contacts appear as
//! ghosts. See [`addressing`] for both mappings.

mod addressing;
mod link;
mod stanzas;

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
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio_xmpp::{
    Stanza,
    jid::{BareJid, Jid},
    parsers::{
        disco::{DiscoInfoQuery, DiscoInfoResult, Identity},
        iq::Iq,
        message::{Message, MessageType},
        ns,
        presence::{Presence, Type as PresenceType},
        stanza_error::{DefinedCondition, ErrorType, StanzaError},
    },
};

use self::link::{Incoming, Link};
use crate::{
    config::XmppConnectorConfig,
    connector::{
        Attachment, Capabilities, Connector, ConnectorCtx, ConnectorError, Edits, Health, Inbound,
        InboundKind, Media, Outbound, Reactions, Receipts, Redactions, RemoteFile, SendError,
        Sender, ThirdPartyProtocol, Typing,
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
            Stanza::Message(m) => {
                self.handle_message(m, ctx).await;
                Vec::new()
            }
            Stanza::Presence(p) => {
                if self.handle_occupant(&p, ctx).await {
                    return Vec::new();
                }
                self.handle_presence(p)
            }
            Stanza::Iq(iq) => self.handle_iq(iq),
        }
    }

    /// True if `from` may write to Matrix users.
    fn allowed(&self, from: &BareJid) -> bool {
        let domain = from.domain().as_str();
        if domain.eq_ignore_ascii_case(&self.config.domain) {
            return false;
        }
        self.config.allowed_domains.is_empty()
            || self
                .config
                .allowed_domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// The Matrix user a stanza is addressed to, if the address is one of ours.
    fn recipient(&self, to: Option<&Jid>) -> Option<String> {
        let to = to?;
        if !to
            .domain()
            .as_str()
            .eq_ignore_ascii_case(&self.config.domain)
        {
            return None;
        }
        addressing::user_of_node(to.node()?.as_str())
    }

    async fn handle_message(&self, message: Message, ctx: &ConnectorCtx) {
        let Some(from) = message.from.as_ref().map(Jid::to_bare) else {
            tracing::warn!(connector = NAME, "Dropped a message without a sender.");
            return;
        };
        if !self.allowed(&from) {
            tracing::warn!(connector = NAME, domain = %from.domain(), "Dropped a message from a domain that is not allowed.");
            return;
        }
        if message.type_ == MessageType::Error {
            self.handle_bounce(&message, &from, ctx).await;
            return;
        }
        if message.type_ == MessageType::Groupchat {
            self.handle_groupchat(&message, ctx).await;
            return;
        }
        if !stanzas::is_chat(&message) {
            tracing::debug!(
                connector = NAME,
                "Ignored a message that is not a one-to-one chat."
            );
            return;
        }
        let Some(recipient) = self.recipient(message.to.as_ref()) else {
            tracing::info!(
                connector = NAME,
                "Dropped a message to an address that is no Matrix user."
            );
            return;
        };
        let received = stanzas::read(&message);
        let contact = from.to_string().to_lowercase();
        let target = |id: &str| format!("{contact}/{id}");
        let body = received
            .body
            .clone()
            .map(|b| self.cap(b))
            .unwrap_or_default();
        // One stanza, one meaning: the most specific one wins.
        let kind = if let Some(id) = &received.retract_id {
            InboundKind::Retraction { target: target(id) }
        } else if let Some((id, keys)) = &received.reactions {
            InboundKind::Reactions {
                target: target(id),
                keys: keys.clone(),
            }
        } else if let (Some(id), Some(_)) = (&received.replace_id, &received.body) {
            InboundKind::Edit { target: target(id) }
        } else if received.body.is_some() {
            InboundKind::Message
        } else if let Some(id) = &received.displayed_id {
            InboundKind::Read { target: target(id) }
        } else if let Some(state) = &received.chat_state {
            InboundKind::Typing {
                active: state == "composing",
            }
        } else {
            return;
        };
        let remote_id = received
            .id
            .as_deref()
            .map(target)
            .unwrap_or_else(|| format!("{contact}/t{}", crate::store::now_ms()));
        let inbound = Inbound {
            remote_id,
            conversation: addressing::conversation(&contact, &recipient),
            sender: contact.clone(),
            sender_name: received.nick,
            body,
            html: received.html.as_deref().and_then(crate::html::sanitize),
            timestamp_ms: None,
            reply_to: received.reply_id.as_deref().map(target),
            recipient: Some(recipient),
            kind,
            files: received
                .oob_url
                .iter()
                .map(|url| RemoteFile {
                    url: url.clone(),
                    ..RemoteFile::default()
                })
                .collect(),
        };
        if let Err(e) = ctx.inbound.commit(NAME, inbound).await {
            tracing::error!(connector = NAME, error = %e, "Could not store an incoming message; it is lost.");
        }
    }

    /// True if `domain` hosts group chats.
    fn is_muc_domain(&self, domain: &str) -> bool {
        self.config
            .muc_services
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// A group chat message: bridged once (each of our occupants receives a copy; the shared
    /// remote id deduplicates), never our own occupants' messages, never history.
    async fn handle_groupchat(&self, message: &Message, ctx: &ConnectorCtx) {
        let Some(from) = message.from.as_ref() else {
            return;
        };
        let room = from.to_bare().to_string().to_lowercase();
        if !self.is_muc_domain(from.domain().as_str())
            || !self.rooms.lock().is_ok_and(|r| r.contains(&room))
        {
            return;
        }
        if message.bodies.is_empty()
            && let Some((_, subject)) = message.subjects.iter().next()
        {
            // Every occupant gets the subject, on each join too: one remote id per text.
            let digest: String = Sha256::digest(subject.as_bytes())
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect();
            let inbound = Inbound {
                remote_id: format!("{room}/subject/{digest}"),
                conversation: addressing::muc_conversation(&room),
                sender: room.clone(),
                body: subject.clone(),
                kind: InboundKind::Topic,
                ..Inbound::default()
            };
            if let Err(e) = ctx.inbound.commit(NAME, inbound).await {
                tracing::warn!(connector = NAME, error = %e, "Could not record a subject change.");
            }
            return;
        }
        let Some(nick) = from.resource().map(|r| r.as_str().to_owned()) else {
            return; // From the room itself (status): not a message.
        };
        let ours = self
            .joined
            .lock()
            .is_ok_and(|j| j.get(&room).is_some_and(|n| n.contains(&nick)));
        if ours
            || message
                .payloads
                .iter()
                .any(|p| p.is("delay", "urn:xmpp:delay"))
        {
            return;
        }
        let received = stanzas::read(message);
        let Some(body) = received.body.clone() else {
            return;
        };
        let Some(id) = received.id.clone() else {
            tracing::debug!(
                connector = NAME,
                "Group chat message without an id: cannot deduplicate, skipped."
            );
            return;
        };
        let inbound = Inbound {
            remote_id: format!("{room}/{id}"),
            conversation: addressing::muc_conversation(&room),
            sender: format!("{room}/{nick}"),
            sender_name: Some(nick),
            body: self.cap(body),
            html: received.html.as_deref().and_then(crate::html::sanitize),
            reply_to: received.reply_id.as_deref().map(|r| format!("{room}/{r}")),
            ..Inbound::default()
        };
        if let Err(e) = ctx.inbound.commit(NAME, inbound).await {
            tracing::error!(connector = NAME, error = %e, "Could not store a group chat message; it is lost.");
        }
    }

    /// A group chat occupant's presence, as seen by the bridge's own occupant (one copy):
    /// occupants joining and leaving follow in Matrix. `true` if it was a group chat presence.
    async fn handle_occupant(&self, presence: &Presence, ctx: &ConnectorCtx) -> bool {
        let (Some(from), Some(to)) = (presence.from.as_ref(), presence.to.as_ref()) else {
            return false;
        };
        if !self.is_muc_domain(from.domain().as_str()) {
            return false;
        }
        let room = from.to_bare().to_string().to_lowercase();
        let Some(nick) = from.resource().map(|r| r.as_str().to_owned()) else {
            return true;
        };
        let to_bridge = self
            .bridge_occupant()
            .is_some_and(|(jid, _)| to.to_bare().to_string().eq_ignore_ascii_case(&jid));
        let ours = self
            .joined
            .lock()
            .is_ok_and(|j| j.get(&room).is_some_and(|n| n.contains(&nick)));
        if !to_bridge || ours || !self.rooms.lock().is_ok_and(|r| r.contains(&room)) {
            return true;
        }
        let kind = match presence.type_ {
            PresenceType::None => InboundKind::Joined,
            PresenceType::Unavailable => InboundKind::Left,
            _ => return true,
        };
        let label = if kind == InboundKind::Joined {
            "joined"
        } else {
            "left"
        };
        let inbound = Inbound {
            remote_id: format!(
                "{room}/presence/{nick}/{label}/{}",
                self.counter.fetch_add(1, Ordering::Relaxed)
            ),
            conversation: addressing::muc_conversation(&room),
            sender: format!("{room}/{nick}"),
            sender_name: Some(nick),
            kind,
            ..Inbound::default()
        };
        if let Err(e) = ctx.inbound.commit(NAME, inbound).await {
            tracing::warn!(connector = NAME, error = %e, "Could not record an occupant change.");
        }
        true
    }

    /// The presence that joins `room` as `nick` from `from`, without history.
    fn join_presence(from: &str, room: &str, nick: &str) -> Option<Stanza> {
        let from = Jid::from_str(from).ok()?;
        let to = Jid::from_str(&format!("{room}/{nick}")).ok()?;
        let mut presence = Presence::available().with_from(from).with_to(to);
        let mut x = stanzas::element("x", "http://jabber.org/protocol/muc", &[]);
        x.append_child(stanzas::element(
            "history",
            "http://jabber.org/protocol/muc",
            &[("maxstanzas", "0")],
        ));
        presence.payloads.push(x);
        Some(Stanza::Presence(presence))
    }

    /// The bridge's own occupant: the bot's JID with `muc_nick`.
    fn bridge_occupant(&self) -> Option<(String, String)> {
        let bot = self.bot.lock().ok()?.clone()?;
        Some((
            addressing::user_jid(&bot, &self.config.domain)?,
            self.config.muc_nick.clone(),
        ))
    }

    /// Joins every linked group chat with the bridge's occupant (after each connection).
    async fn join_rooms(&self, link: &mut Link) -> Result<(), String> {
        if let Ok(mut joined) = self.joined.lock() {
            joined.clear();
        }
        let Some((jid, nick)) = self.bridge_occupant() else {
            return Ok(());
        };
        let rooms: Vec<String> = self
            .rooms
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        for room in rooms {
            if let Some(presence) = Self::join_presence(&jid, &room, &nick) {
                self.remember_nick(&room, &nick);
                link::write(link, presence).await?;
            }
        }
        Ok(())
    }

    fn remember_nick(&self, room: &str, nick: &str) {
        if let Ok(mut joined) = self.joined.lock() {
            joined
                .entry(room.to_owned())
                .or_default()
                .insert(nick.to_owned());
        }
    }

    /// Sends a Matrix user's message to a group chat, joining it first if needed.
    async fn send_groupchat(&self, room: &str, message: &Outbound) -> Result<String, SendError> {
        let jid = addressing::user_jid(&message.sender.user_id, &self.config.domain).ok_or_else(
            || SendError::Permanent {
                reason: format!("{} has no XMPP address", message.sender.user_id),
            },
        )?;
        let nick = crate::ids::split_user_id(&message.sender.user_id)
            .map_or("matrix", |(l, _)| l)
            .to_owned();
        let joined = self
            .joined
            .lock()
            .is_ok_and(|j| j.get(room).is_some_and(|n| n.contains(&nick)));
        if !joined {
            let presence =
                Self::join_presence(&jid, room, &nick).ok_or_else(|| SendError::Permanent {
                    reason: format!("cannot join {room} as {nick}"),
                })?;
            // Known as ours before the room announces it, so it is never bridged back.
            self.remember_nick(room, &nick);
            self.write_stanza(presence).await?;
        }
        let from = Jid::from_str(&jid).map_err(|e| SendError::Permanent {
            reason: e.to_string(),
        })?;
        let to = Jid::from_str(room).map_err(|e| SendError::Permanent {
            reason: e.to_string(),
        })?;
        let id = format!("passerelle-{}", message.key);
        let mut stanza = stanzas::chat(from, to, &id, &message.body);
        stanza.type_ = MessageType::Groupchat;
        stanza
            .payloads
            .retain(|p| !p.is("request", stanzas::NS_RECEIPTS));
        self.write(stanza).await?;
        Ok(format!("{room}/{id}"))
    }

    /// A message of ours the server or the contact's server sent back as an error.
    async fn handle_bounce(&self, message: &Message, from: &BareJid, ctx: &ConnectorCtx) {
        let Some(id) = message.id.as_ref().map(|i| i.0.clone()) else {
            return;
        };
        let Some(recipient) = self.recipient(message.to.as_ref()) else {
            return;
        };
        let contact = from.to_string().to_lowercase();
        let reason =
            stanzas::error_text(message).unwrap_or_else(|| "the XMPP server refused it".to_owned());
        tracing::info!(connector = NAME, reason = %reason, "A message was bounced.");
        let inbound = Inbound {
            remote_id: format!("{contact}/error/{id}"),
            conversation: addressing::conversation(&contact, &recipient),
            sender: contact.clone(),
            kind: InboundKind::DeliveryFailed {
                target: format!("{contact}/{id}"),
                reason,
                key: id.strip_prefix("passerelle-").and_then(|k| k.parse().ok()),
            },
            ..Inbound::default()
        };
        if let Err(e) = ctx.inbound.commit(NAME, inbound).await {
            tracing::error!(connector = NAME, error = %e, "Could not record a bounce.");
        }
    }

    /// Cuts a body over `max_message_size`, saying so.
    fn cap(&self, body: String) -> String {
        let max = usize::try_from(self.config.max_message_size.as_u64()).unwrap_or(usize::MAX);
        if body.len() <= max {
            return body;
        }
        let mut cut = max;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        format!(
            "{}… [truncated: the message was larger than {}]",
            &body[..cut],
            self.config.max_message_size
        )
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

    fn handle_presence(&self, presence: Presence) -> Vec<Stanza> {
        let (Some(from), Some(to)) = (presence.from.clone(), presence.to.clone()) else {
            return Vec::new();
        };
        if self.recipient(Some(&to)).is_none() {
            return Vec::new();
        }
        let from_bare = from.to_bare();
        if !self.allowed(&from_bare) {
            return Vec::new();
        }
        let reply_to: Jid = from_bare.into();
        match presence.type_ {
            // Anyone may see that a Matrix user is reachable.
            PresenceType::Subscribe => vec![
                Stanza::Presence(
                    Presence::subscribed()
                        .with_from(to.to_bare())
                        .with_to(reply_to.clone()),
                ),
                Stanza::Presence(
                    Presence::available()
                        .with_from(to.to_bare())
                        .with_to(reply_to),
                ),
            ],
            PresenceType::Probe => vec![Stanza::Presence(
                Presence::available()
                    .with_from(to.to_bare())
                    .with_to(reply_to),
            )],
            _ => Vec::new(),
        }
    }

    fn handle_iq(&self, iq: Iq) -> Vec<Stanza> {
        let Iq::Get {
            from,
            to,
            id,
            payload,
        } = iq
        else {
            if let Iq::Set { from, to, id, .. } = iq {
                return vec![error_reply(
                    from,
                    to,
                    id,
                    DefinedCondition::ServiceUnavailable,
                )];
            }
            return Vec::new();
        };
        if payload.is("query", ns::DISCO_INFO) {
            let is_domain = to.as_ref().is_some_and(|t| t.node().is_none());
            let is_user = self.recipient(to.as_ref()).is_some();
            if !is_domain && !is_user {
                return vec![error_reply(from, to, id, DefinedCondition::ItemNotFound)];
            }
            let node = DiscoInfoQuery::try_from(payload).ok().and_then(|q| q.node);
            let identity = if is_domain {
                Identity::new("gateway", "matrix", "en", "passerelle (Matrix)")
            } else {
                Identity::new("client", "pc", "en", "passerelle")
            };
            let result = DiscoInfoResult {
                node,
                identities: vec![identity],
                features: [
                    ns::DISCO_INFO,
                    "urn:xmpp:ping",
                    stanzas::NS_RECEIPTS,
                    stanzas::NS_MARKERS,
                ]
                .into_iter()
                .map(str::to_owned)
                .collect(),
                extensions: Vec::new(),
            };
            return vec![Stanza::Iq(Iq::Result {
                from: to,
                to: from,
                id,
                payload: Some(result.into()),
            })];
        }
        if payload.is("ping", "urn:xmpp:ping") {
            return vec![Stanza::Iq(Iq::Result {
                from: to,
                to: from,
                id,
                payload: None,
            })];
        }
        vec![error_reply(
            from,
            to,
            id,
            DefinedCondition::ServiceUnavailable,
        )]
    }
}

#[async_trait]
impl Media for XmppConnector {
    async fn send_media(&self, message: &Outbound, file: &Attachment) -> Result<String, SendError> {
        let Some(link) = &file.link else {
            return Err(SendError::Unsupported {
                what: "files (passerelle needs media.public_url to give XMPP users a link)".into(),
            });
        };
        let (from, to) = self.route(&message.conversation, &message.sender.user_id)?;
        let id = format!("passerelle-{}", message.key);
        let contact = to.to_bare().to_string();
        // XEP-0066 convention: the body is the URL itself, so clients show the file inline.
        let mut stanza = stanzas::chat(from, to, &id, link);
        stanza.payloads.push(stanzas::oob(link, &message.body));
        self.write(stanza).await?;
        Ok(format!("{contact}/{id}"))
    }
}

#[async_trait]
impl Edits for XmppConnector {
    async fn edit(&self, target: &str, new: &Outbound) -> Result<String, SendError> {
        let (from, to) = self.route(&new.conversation, &new.sender.user_id)?;
        let id = format!("passerelle-{}", new.key);
        let contact = to.to_bare().to_string();
        self.write(stanzas::correction(
            from,
            to,
            &id,
            Self::stanza_id(target),
            &new.body,
        ))
        .await?;
        Ok(format!("{contact}/{id}"))
    }
}

#[async_trait]
impl Reactions for XmppConnector {
    async fn react(
        &self,
        conversation: &str,
        target: &str,
        sender: &Sender,
        keys: &[String],
    ) -> Result<(), SendError> {
        let (from, to) = self.route(conversation, &sender.user_id)?;
        let id = self.fresh_id("react");
        self.write(stanzas::reactions(
            from,
            to,
            &id,
            Self::stanza_id(target),
            keys,
        ))
        .await
    }
}

#[async_trait]
impl Redactions for XmppConnector {
    async fn redact(
        &self,
        conversation: &str,
        target: &str,
        sender: &Sender,
    ) -> Result<(), SendError> {
        let (from, to) = self.route(conversation, &sender.user_id)?;
        let id = self.fresh_id("retract");
        self.write(stanzas::retraction(from, to, &id, Self::stanza_id(target)))
            .await
    }
}

#[async_trait]
impl Typing for XmppConnector {
    async fn typing(
        &self,
        conversation: &str,
        sender: &Sender,
        typing: bool,
    ) -> Result<(), SendError> {
        let (from, to) = self.route(conversation, &sender.user_id)?;
        let state = if typing { "composing" } else { "active" };
        self.write(stanzas::chat_state(
            from,
            to,
            &self.fresh_id("state"),
            state,
        ))
        .await
    }
}

#[async_trait]
impl Receipts for XmppConnector {
    async fn read(
        &self,
        conversation: &str,
        target: &str,
        sender: &Sender,
    ) -> Result<(), SendError> {
        let (from, to) = self.route(conversation, &sender.user_id)?;
        self.write(stanzas::displayed(
            from,
            to,
            &self.fresh_id("marker"),
            Self::stanza_id(target),
        ))
        .await
    }
}

fn error_reply(
    from: Option<Jid>,
    to: Option<Jid>,
    id: String,
    condition: DefinedCondition,
) -> Stanza {
    let error = StanzaError::new(ErrorType::Cancel, condition, "en", "");
    Stanza::Iq(Iq::Error {
        from: to,
        to: from,
        id,
        error,
        payload: None,
    })
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
            Err(e) => Health::Down(e),
        }
    }
}
