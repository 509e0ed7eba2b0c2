//! Homeserver events: invitations create portals, messages become remote sends.

use ruma::{
    RoomId, UserId,
    events::room::{
        member::{MembershipState, RoomMemberEventContent},
        message::{MessageType, Relation, RoomMessageEventContent},
    },
};

use serde::Deserialize;
use serde_json::Value;

use super::{
    Runtime, commands,
    content::{media_of, strip_reply_fallback, strip_reply_html},
    outbox::{RemoteAction, RemoteMessage, notice, to_remote},
    queues::Outcome,
};
use crate::{
    config::PermissionLevel,
    connector::Sender,
    store::{InboxRow, Portal},
};

/// The envelope fields passerelle reads from every timeline event.
#[derive(Deserialize)]
pub(super) struct Envelope {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) sender: String,
    pub(super) event_id: String,
    pub(super) room_id: String,
    pub(super) state_key: Option<String>,
    #[serde(default)]
    pub(super) content: Value,
    /// The redacted event, in room versions before 11 (later ones put it in `content`).
    #[serde(default)]
    pub(super) redacts: Option<String>,
}

impl Runtime {
    pub(super) async fn handle_event(&self, row: &InboxRow) -> Outcome {
        if row.kind != "timeline" {
            return self.handle_ephemeral(row).await;
        }
        let event: Envelope = match serde_json::from_str(&row.payload) {
            Ok(e) => e,
            Err(e) => return Outcome::Skipped(format!("malformed event: {e}")),
        };
        // Never bridge back what passerelle itself sent (no echoes).
        if event.sender == self.bot.as_str()
            || self
                .registry
                .is_ghost_namespace(&event.sender, self.server_name())
        {
            return Outcome::Skipped("sent by passerelle".into());
        }
        match (event.kind.as_str(), &event.state_key) {
            ("m.room.member", Some(target)) => self.handle_membership(&event, target).await,
            ("m.room.message", None) => self.handle_message(&event).await,
            ("m.room.tombstone", Some(_)) => self.handle_tombstone(&event).await,
            ("m.reaction", None) => self.handle_reaction(&event).await,
            ("m.room.redaction", None) => self.handle_redaction(&event).await,
            (kind, _) => Outcome::Skipped(format!("{kind} events are not bridged")),
        }
    }

    async fn handle_membership(&self, event: &Envelope, target: &str) -> Outcome {
        let content: RoomMemberEventContent = match serde_json::from_value(event.content.clone()) {
            Ok(c) => c,
            Err(e) => return Outcome::Skipped(format!("malformed membership: {e}")),
        };
        let Ok(room) = RoomId::parse(event.room_id.as_str()) else {
            return Outcome::Skipped("invalid room id".into());
        };
        let level = self.permissions.level(&event.sender);
        match content.membership {
            MembershipState::Invite if target == self.bot.as_str() => {
                if level < PermissionLevel::Relay {
                    tracing::info!(sender = %event.sender, "Declining an invitation from a user without permission.");
                    return self
                        .matrix
                        .leave(&room, None)
                        .await
                        .map_or_else(Outcome::from, |()| Outcome::Done(Vec::new()));
                }
                match self.matrix.join(&room, None).await {
                    Ok(()) => Outcome::Done(Vec::new()),
                    Err(e) => e.into(),
                }
            }
            MembershipState::Invite => {
                let Some((entry, remote_id)) = self.registry.by_ghost(target, self.server_name())
                else {
                    return Outcome::Skipped(
                        "invitation for a user passerelle does not own".into(),
                    );
                };
                let Ok(ghost) = UserId::parse(target) else {
                    return Outcome::Skipped("invalid ghost id".into());
                };
                if level < PermissionLevel::User {
                    tracing::info!(sender = %event.sender, "Declining a ghost invitation from a user without permission.");
                    tracing::debug!(ghost = target, "Declined ghost.");
                    return match self.matrix.leave(&room, Some(&ghost)).await {
                        Ok(()) => Outcome::Done(Vec::new()),
                        Err(e) => e.into(),
                    };
                }
                if let Err(e) = self.ensure_ghost(entry, &remote_id, None).await {
                    return e.into();
                }
                let connector = entry.connector.name();
                let conversation = entry.connector.conversation_for(&remote_id, &event.sender);
                match self.store.portal_by_room(room.as_str()).await {
                    Ok(Some(existing))
                        if existing.connector == connector
                            && existing.conversation == conversation =>
                    {
                        return Outcome::Done(Vec::new());
                    }
                    Ok(Some(existing)) => {
                        let text = format!(
                            "This room already bridges {} ({}); one contact per room is supported.",
                            existing.conversation, existing.connector
                        );
                        return Outcome::Done(vec![notice(
                            room.as_str(),
                            Some(target),
                            &text,
                            None,
                        )]);
                    }
                    Ok(None) => {}
                    Err(e) => return e.into(),
                }
                // The latest room a contact was invited to becomes its portal.
                if let Err(e) = self.store.delete_portal_of(connector, &conversation).await {
                    return e.into();
                }
                let portal = Portal {
                    connector: connector.to_owned(),
                    conversation,
                    room_id: room.to_string(),
                };
                // Stored before the ghost joins: a remote message arriving once the ghost is
                // seen in the room finds this portal rather than opening a room of its own.
                if let Err(e) = self.store.insert_portal(&portal).await {
                    return e.into();
                }
                if let Err(e) = self.matrix.join(&room, Some(&ghost)).await {
                    // Not linked after all (a retry starts over).
                    if let Err(e) = self.store.delete_portal(room.as_str()).await {
                        return e.into();
                    }
                    return e.into();
                }
                tracing::info!(connector, "Portal created by an invitation.");
                entry.connector.open_conversation(&portal.conversation);
                Outcome::Done(Vec::new())
            }
            MembershipState::Leave | MembershipState::Ban => {
                // A ghost removed from its portal: the room no longer bridges that contact.
                if self.registry.by_ghost(target, self.server_name()).is_some()
                    && let Ok(Some(portal)) = self.store.portal_by_room(room.as_str()).await
                {
                    let ghost_of_portal = self
                        .registry
                        .by_name(&portal.connector)
                        .and_then(|e| self.portal_ghost(e, &portal).ok());
                    if ghost_of_portal.as_deref() == Some(target) {
                        return match self.store.delete_portal(room.as_str()).await {
                            Ok(()) => Outcome::Done(Vec::new()),
                            Err(e) => e.into(),
                        };
                    }
                }
                Outcome::Skipped("membership change not relevant".into())
            }
            _ => Outcome::Skipped("membership change not relevant".into()),
        }
    }

    async fn handle_message(&self, event: &Envelope) -> Outcome {
        let content: RoomMessageEventContent = match serde_json::from_value(event.content.clone()) {
            Ok(c) => c,
            Err(e) => return Outcome::Skipped(format!("malformed message: {e}")),
        };
        let level = self.permissions.level(&event.sender);
        let portal = match self.store.portal_by_room(&event.room_id).await {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        let Some(portal) = portal else {
            return self.handle_command(event, &content, level).await;
        };
        let Some(entry) = self.registry.by_name(&portal.connector) else {
            return Outcome::Skipped(format!("connector {} is not enabled", portal.connector));
        };
        let ghost = match self.portal_ghost(entry, &portal) {
            Ok(g) => g,
            Err(e) => return Outcome::Skipped(e.to_string()),
        };
        if level < PermissionLevel::Relay {
            return match self.store.notify_once(&event.sender, "blocked").await {
                Ok(true) => Outcome::Done(vec![notice(
                    &event.room_id,
                    Some(&ghost),
                    &format!(
                        "{}: you are not allowed to use this bridge, so your messages are not delivered. Ask your administrator.",
                        event.sender
                    ),
                    Some(&event.event_id),
                )]),
                Ok(false) => Outcome::Skipped("sender not allowed; already told".into()),
                Err(e) => e.into(),
            };
        }
        let mut attachment = None;
        let (msgtype, body, html) = match &content.msgtype {
            MessageType::Text(t) => (
                "m.text".to_owned(),
                t.body.clone(),
                t.formatted.as_ref().map(|f| f.body.clone()),
            ),
            MessageType::Notice(t) => (
                "m.notice".to_owned(),
                t.body.clone(),
                t.formatted.as_ref().map(|f| f.body.clone()),
            ),
            MessageType::Emote(t) => (
                "m.emote".to_owned(),
                t.body.clone(),
                t.formatted.as_ref().map(|f| f.body.clone()),
            ),
            other => match media_of(other) {
                Some(media) if entry.connector.media().is_some() => {
                    let caption = if media.filename == other.body() {
                        String::new()
                    } else {
                        other.body().to_owned()
                    };
                    let kind = other.msgtype().to_owned();
                    attachment = Some(media);
                    (kind, caption, None)
                }
                _ => {
                    let text = format!(
                        "⚠ Not delivered: the {} network cannot carry {} messages.",
                        portal.connector,
                        other.msgtype()
                    );
                    return Outcome::Done(vec![notice(
                        &event.room_id,
                        Some(&ghost),
                        &text,
                        Some(&event.event_id),
                    )]);
                }
            },
        };
        let mut reply_to = None;
        let mut reply_quote = None;
        let mut edit_of = None;
        let mut thread_root = None;
        let mut body = body;
        match &content.relates_to {
            Some(Relation::Reply(reply)) => {
                let in_reply_to = &reply.in_reply_to;
                // Only a message bridged in this same room may be quoted.
                if let Ok(Some(m)) = self
                    .store
                    .message_by_event(in_reply_to.event_id.as_str())
                    .await
                    && m.room_id == event.room_id
                    && m.connector == portal.connector
                {
                    reply_to = Some(m.remote_id);
                    reply_quote = self
                        .quote(&event.room_id, &ghost, in_reply_to.event_id.as_str())
                        .await;
                }
                body = strip_reply_fallback(&body);
            }
            Some(Relation::Replacement(replacement)) => {
                if let Ok(Some(m)) = self
                    .store
                    .message_by_event(replacement.event_id.as_str())
                    .await
                    && m.room_id == event.room_id
                {
                    edit_of = Some(m.remote_id);
                }
                if entry.connector.edits().is_some()
                    && let Some(new_body) = event
                        .content
                        .pointer("/m.new_content/body")
                        .and_then(Value::as_str)
                {
                    body = new_body.to_owned();
                }
            }
            Some(Relation::Thread(thread)) => {
                thread_root = self.remote_id_in(&portal, thread.event_id.as_str()).await;
                // A client's fallback reply points at the thread's latest event, not at a
                // message the user chose to answer.
                if !thread.is_falling_back
                    && let Some(in_reply_to) = &thread.in_reply_to
                {
                    reply_to = self
                        .remote_id_in(&portal, in_reply_to.event_id.as_str())
                        .await;
                }
                body = strip_reply_fallback(&body);
            }
            _ => {}
        }
        let display_name = if entry.connector.capabilities().sender_names {
            self.member_name(&event.room_id, &ghost, &event.sender)
                .await
        } else {
            None
        };
        let message = RemoteMessage {
            reply_quote,
            conversation: portal.conversation.clone(),
            event_id: event.event_id.clone(),
            sender: Sender {
                user_id: event.sender.clone(),
                display_name,
            },
            body,
            html: html.map(|h| strip_reply_html(&h)),
            msgtype,
            reply_to,
            edit_of,
            thread_root,
            ghost,
            attachment,
            action: RemoteAction::Message,
        };
        Outcome::Done(vec![to_remote(&event.room_id, &portal.connector, message)])
    }

    /// `!passerelle link <network> <address>`: links this room with a group conversation of a
    /// network (an XMPP group chat), as inviting the conversation's ghost would.
    async fn link_room(
        &self,
        event: &Envelope,
        level: PermissionLevel,
        network: &str,
        address: &str,
    ) -> Result<String, String> {
        if level < PermissionLevel::User {
            return Err("You may not link rooms; ask your administrator.".into());
        }
        let entry = self
            .registry
            .by_name(network)
            .ok_or_else(|| format!("No network called `{network}` is enabled."))?;
        let contact = entry.connector.resolve_identifier(address)?;
        let conversation = entry.connector.conversation_for(&contact, &event.sender);
        if !entry.connector.is_group(&conversation) {
            let ghost = entry
                .template
                .user_id(&contact, self.server_name())
                .map_err(|e| e.to_string())?;
            return Err(format!(
                "{contact} is not a group conversation; to talk to it, invite {ghost}."
            ));
        }
        let room = RoomId::parse(event.room_id.as_str()).map_err(|e| e.to_string())?;
        let ghost = self
            .ensure_ghost(entry, &contact, None)
            .await
            .map_err(|e| format!("Could not link: {e}"))?;
        self.matrix
            .invite(&room, None, &ghost)
            .await
            .map_err(|e| format!("Could not invite {ghost}: {e}"))?;
        self.matrix
            .join(&room, Some(&ghost))
            .await
            .map_err(|e| format!("{ghost} could not join: {e}"))?;
        let connector = entry.connector.name();
        self.store
            .delete_portal_of(connector, &conversation)
            .await
            .map_err(|e| e.to_string())?;
        let portal = Portal {
            connector: connector.to_owned(),
            conversation: conversation.clone(),
            room_id: event.room_id.clone(),
        };
        if !self
            .store
            .insert_portal(&portal)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err("This room already bridges another conversation.".into());
        }
        entry.connector.open_conversation(&conversation);
        Ok(format!(
            "This room is now linked with {contact} ({connector})."
        ))
    }

    /// The remote id of `event_id` if it is bridged in this portal.
    async fn remote_id_in(&self, portal: &Portal, event_id: &str) -> Option<String> {
        match self.store.message_by_event(event_id).await {
            Ok(Some(m)) if m.room_id == portal.room_id && m.connector == portal.connector => {
                Some(m.remote_id)
            }
            _ => None,
        }
    }

    /// `user`'s display name in this room (else their profile's), read as the portal's ghost;
    /// `None` if unset or unreadable.
    async fn member_name(&self, room: &str, reader: &str, user: &str) -> Option<String> {
        let room = RoomId::parse(room).ok()?;
        let reader = UserId::parse(reader).ok()?;
        let member = self
            .matrix
            .state(&room, Some(&reader), "m.room.member", user)
            .await
            .ok()?;
        member
            .get("displayname")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
    }

    /// The first line of a message in this room, read as the portal's ghost (who can see the
    /// room), shortened; `None` if it cannot be read.
    async fn quote(&self, room: &str, reader: &str, event_id: &str) -> Option<String> {
        let room = RoomId::parse(room).ok()?;
        let reader = UserId::parse(reader).ok()?;
        let event = ruma::EventId::parse(event_id).ok()?;
        let quoted = self.matrix.event(&room, Some(&reader), &event).await.ok()?;
        let body = quoted.pointer("/content/body").and_then(Value::as_str)?;
        let line = strip_reply_fallback(body)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        let mut short: String = line.chars().take(100).collect();
        if line.chars().count() > 100 {
            short.push('…');
        }
        Some(short)
    }

    async fn handle_command(
        &self,
        event: &Envelope,
        content: &RoomMessageEventContent,
        level: PermissionLevel,
    ) -> Outcome {
        let MessageType::Text(text) = &content.msgtype else {
            return Outcome::Skipped("not a portal room".into());
        };
        let mut words = text.body.split_whitespace();
        if let (Some("!passerelle"), Some("link"), Some(network), Some(address), None) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) {
            let reply = self.link_room(event, level, network, address).await;
            return match reply {
                Ok(text) | Err(text) => Outcome::Done(vec![notice(
                    &event.room_id,
                    None,
                    &text,
                    Some(&event.event_id),
                )]),
            };
        }
        let networks: Vec<(String, String)> = self
            .registry
            .entries()
            .iter()
            .map(|e| {
                let example = e
                    .connector
                    .protocol()
                    .and_then(|p| e.template.user_id(&p.placeholder, self.server_name()).ok())
                    .unwrap_or_else(|| format!("@{}…:{}", e.template.prefix(), self.server_name()));
                (e.connector.name().to_owned(), example)
            })
            .collect();
        match commands::answer(&text.body, level, &networks, self.bot.as_str()) {
            Some(reply) => Outcome::Done(vec![notice(
                &event.room_id,
                None,
                &reply,
                Some(&event.event_id),
            )]),
            None => Outcome::Skipped("not a portal room".into()),
        }
    }
}
