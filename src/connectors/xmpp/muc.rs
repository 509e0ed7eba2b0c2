//! Group chats (XEP-0045): linked rooms, occupants, subjects.

use std::{str::FromStr, sync::atomic::Ordering};

use sha2::{Digest, Sha256};
use tokio_xmpp::{
    Stanza,
    jid::Jid,
    parsers::{
        message::{Message, MessageType},
        presence::{Presence, Type as PresenceType},
    },
};

use super::{
    NAME, XmppConnector, addressing,
    link::{self, Link},
    stanzas,
};
use crate::connector::{ConnectorCtx, Inbound, InboundKind, Outbound, SendError};

impl XmppConnector {
    /// True if `domain` hosts group chats.
    pub(super) fn is_muc_domain(&self, domain: &str) -> bool {
        self.config
            .muc_services
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// A group chat message: bridged once (each of our occupants receives a copy; the shared
    /// remote id deduplicates), never our own occupants' messages, never history.
    pub(super) async fn handle_groupchat(&self, message: &Message, ctx: &ConnectorCtx) {
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
    pub(super) async fn handle_occupant(&self, presence: &Presence, ctx: &ConnectorCtx) -> bool {
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
    pub(super) fn join_presence(from: &str, room: &str, nick: &str) -> Option<Stanza> {
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
    pub(super) fn bridge_occupant(&self) -> Option<(String, String)> {
        let bot = self.bot.lock().ok()?.clone()?;
        Some((
            addressing::user_jid(&bot, &self.config.domain)?,
            self.config.muc_nick.clone(),
        ))
    }

    /// Joins every linked group chat with the bridge's occupant (after each connection).
    pub(super) async fn join_rooms(&self, link: &mut Link) -> Result<(), String> {
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

    pub(super) fn remember_nick(&self, room: &str, nick: &str) {
        if let Ok(mut joined) = self.joined.lock() {
            joined
                .entry(room.to_owned())
                .or_default()
                .insert(nick.to_owned());
        }
    }

    /// Sends a Matrix user's message to a group chat, joining it first if needed.
    pub(super) async fn send_groupchat(
        &self,
        room: &str,
        message: &Outbound,
    ) -> Result<String, SendError> {
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
}
