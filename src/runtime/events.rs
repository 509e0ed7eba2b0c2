//! Homeserver events: invitations create portals, messages become remote sends.

use ruma::{
    RoomId, UserId,
    events::room::{
        member::{MembershipState, RoomMemberEventContent},
        message::{MessageType, Relation, RoomMessageEventContent},
    },
};
use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

use super::{
    Runtime, commands,
    outbox::{MediaRef, RemoteMessage, notice, to_remote},
    queues::Outcome,
};
use crate::{
    config::PermissionLevel,
    connector::Sender,
    store::{InboxRow, Portal},
};

/// The envelope fields passerelle reads from every timeline event.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    sender: String,
    event_id: String,
    room_id: String,
    state_key: Option<String>,
    #[serde(default)]
    content: Value,
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
            (kind, _) => Outcome::Skipped(format!("{kind} events are not bridged")),
        }
    }

    /// Typing notifications and read receipts: best effort, never retried (they are
    /// ephemeral, and a late one is worse than none).
    async fn handle_ephemeral(&self, row: &InboxRow) -> Outcome {
        let event: Value = match serde_json::from_str(&row.payload) {
            Ok(v) => v,
            Err(e) => return Outcome::Skipped(format!("malformed ephemeral event: {e}")),
        };
        let portal = match self.store.portal_by_room(&row.room_id).await {
            Ok(Some(p)) => p,
            Ok(None) => return Outcome::Skipped("not a portal room".into()),
            Err(e) => return e.into(),
        };
        let Some(entry) = self.registry.by_name(&portal.connector) else {
            return Outcome::Skipped("connector not enabled".into());
        };
        let allowed = |user: &str| {
            user != self.bot.as_str()
                && !self.registry.is_ghost_namespace(user, self.server_name())
                && self.permissions.level(user) >= PermissionLevel::Relay
        };
        match event.get("type").and_then(Value::as_str) {
            Some("m.typing") => {
                let Some(typing) = entry.connector.typing() else {
                    return Outcome::Skipped("the network has no typing notifications".into());
                };
                let now: BTreeSet<String> = event
                    .pointer("/content/user_ids")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .filter(|u| allowed(u))
                    .map(str::to_owned)
                    .collect();
                let before = match self.typing.lock() {
                    Ok(mut map) => map
                        .insert(row.room_id.clone(), now.clone())
                        .unwrap_or_default(),
                    Err(_) => BTreeSet::new(),
                };
                for (user, state) in now
                    .difference(&before)
                    .map(|u| (u, true))
                    .chain(before.difference(&now).map(|u| (u, false)))
                {
                    let sender = Sender {
                        user_id: user.clone(),
                        display_name: None,
                    };
                    if let Err(e) = typing.typing(&portal.conversation, &sender, state).await {
                        tracing::debug!(error = %e, "Typing notification not delivered.");
                    }
                }
                Outcome::Done(Vec::new())
            }
            Some("m.receipt") => {
                let Some(receipts) = entry.connector.receipts() else {
                    return Outcome::Skipped("the network has no read receipts".into());
                };
                let Some(content) = event.get("content").and_then(Value::as_object) else {
                    return Outcome::Skipped("receipt without content".into());
                };
                for (event_id, by_type) in content {
                    let Some(readers) = by_type.get("m.read").and_then(Value::as_object) else {
                        continue;
                    };
                    let Ok(Some(mapping)) = self.store.message_by_event(event_id).await else {
                        continue;
                    };
                    if mapping.room_id != row.room_id {
                        continue;
                    }
                    for user in readers.keys().filter(|u| allowed(u)) {
                        let sender = Sender {
                            user_id: user.clone(),
                            display_name: None,
                        };
                        if let Err(e) = receipts
                            .read(&portal.conversation, &mapping.remote_id, &sender)
                            .await
                        {
                            tracing::debug!(error = %e, "Read receipt not delivered.");
                        }
                    }
                }
                Outcome::Done(Vec::new())
            }
            other => Outcome::Skipped(format!("ephemeral event {other:?} not bridged")),
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
                    tracing::info!(sender = %event.sender, ghost = target, "Declining a ghost invitation from a user without permission.");
                    return match self.matrix.leave(&room, Some(&ghost)).await {
                        Ok(()) => Outcome::Done(Vec::new()),
                        Err(e) => e.into(),
                    };
                }
                if let Err(e) = self.ensure_ghost(entry, &remote_id, None).await {
                    return e.into();
                }
                if let Err(e) = self.matrix.join(&room, Some(&ghost)).await {
                    return e.into();
                }
                let connector = entry.connector.name();
                match self.store.portal_by_room(room.as_str()).await {
                    Ok(Some(existing))
                        if existing.connector == connector
                            && existing.conversation == remote_id =>
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
                if let Err(e) = self.store.delete_portal_of(connector, &remote_id).await {
                    return e.into();
                }
                let portal = Portal {
                    connector: connector.to_owned(),
                    conversation: remote_id,
                    room_id: room.to_string(),
                };
                match self.store.insert_portal(&portal).await {
                    Ok(_) => {
                        tracing::info!(connector, "Portal created by an invitation.");
                        Outcome::Done(Vec::new())
                    }
                    Err(e) => e.into(),
                }
            }
            MembershipState::Leave | MembershipState::Ban => {
                // A ghost removed from its portal: the room no longer bridges that contact.
                if self.registry.by_ghost(target, self.server_name()).is_some()
                    && let Ok(Some(portal)) = self.store.portal_by_room(room.as_str()).await
                {
                    let ghost_of_portal = self.registry.by_name(&portal.connector).and_then(|e| {
                        e.template
                            .user_id(&portal.conversation, self.server_name())
                            .ok()
                    });
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

    /// A room upgrade: the portal moves to the new room, but only if that room names this one
    /// as its predecessor (a forged tombstone must not redirect a conversation).
    async fn handle_tombstone(&self, event: &Envelope) -> Outcome {
        let portal = match self.store.portal_by_room(&event.room_id).await {
            Ok(Some(p)) => p,
            Ok(None) => return Outcome::Skipped("not a portal room".into()),
            Err(e) => return e.into(),
        };
        let Some(new_room) = event
            .content
            .get("replacement_room")
            .and_then(Value::as_str)
        else {
            return Outcome::Skipped("tombstone without replacement_room".into());
        };
        let Ok(new_room) = RoomId::parse(new_room) else {
            return Outcome::Skipped("tombstone with an invalid replacement_room".into());
        };
        let Some(entry) = self.registry.by_name(&portal.connector) else {
            return Outcome::Skipped("connector not enabled".into());
        };
        let Ok(ghost) = entry
            .template
            .user_id(&portal.conversation, self.server_name())
        else {
            return Outcome::Skipped("invalid ghost".into());
        };
        let Ok(ghost) = UserId::parse(ghost.as_str()) else {
            return Outcome::Skipped("invalid ghost".into());
        };
        if let Err(e) = self.matrix.join(&new_room, Some(&ghost)).await {
            return e.into();
        }
        let create = match self
            .matrix
            .state(&new_room, Some(&ghost), "m.room.create", "")
            .await
        {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let predecessor = create
            .pointer("/predecessor/room_id")
            .and_then(Value::as_str);
        if predecessor != Some(event.room_id.as_str()) {
            tracing::warn!(new_room = %new_room, ?predecessor, "Ignored a tombstone whose new room does not name this room as predecessor.");
            let _ = self.matrix.leave(&new_room, Some(&ghost)).await;
            return Outcome::Skipped(
                "replacement room does not name this room as its predecessor".into(),
            );
        }
        let moved = crate::store::Portal {
            room_id: new_room.to_string(),
            ..portal
        };
        if let Err(e) = self.store.delete_portal(&event.room_id).await {
            return e.into();
        }
        match self.store.insert_portal(&moved).await {
            Ok(_) => {
                tracing::info!(new_room = %new_room, "Portal followed a room upgrade.");
                Outcome::Done(Vec::new())
            }
            Err(e) => e.into(),
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
            return self.handle_command(event, &content, level);
        };
        let Some(entry) = self.registry.by_name(&portal.connector) else {
            return Outcome::Skipped(format!("connector {} is not enabled", portal.connector));
        };
        let ghost = match entry
            .template
            .user_id(&portal.conversation, self.server_name())
        {
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
        let mut edit_of = None;
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
            _ => {}
        }
        let message = RemoteMessage {
            conversation: portal.conversation.clone(),
            event_id: event.event_id.clone(),
            sender: Sender {
                user_id: event.sender.clone(),
                display_name: None,
            },
            body,
            html: html.map(|h| strip_reply_html(&h)),
            msgtype,
            reply_to,
            edit_of,
            ghost,
            attachment,
        };
        Outcome::Done(vec![to_remote(&event.room_id, &portal.connector, message)])
    }

    fn handle_command(
        &self,
        event: &Envelope,
        content: &RoomMessageEventContent,
        level: PermissionLevel,
    ) -> Outcome {
        let MessageType::Text(text) = &content.msgtype else {
            return Outcome::Skipped("not a portal room".into());
        };
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

/// The file of a media message (image, file, audio, video), if it is not encrypted.
fn media_of(msgtype: &MessageType) -> Option<MediaRef> {
    use ruma::events::room::MediaSource;
    let (source, filename, mimetype, size) = match msgtype {
        MessageType::Image(m) => (
            &m.source,
            m.filename.clone().unwrap_or_else(|| m.body.clone()),
            m.info.as_ref().and_then(|i| i.mimetype.clone()),
            m.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::File(m) => (
            &m.source,
            m.filename.clone().unwrap_or_else(|| m.body.clone()),
            m.info.as_ref().and_then(|i| i.mimetype.clone()),
            m.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::Audio(m) => (
            &m.source,
            m.filename.clone().unwrap_or_else(|| m.body.clone()),
            m.info.as_ref().and_then(|i| i.mimetype.clone()),
            m.info.as_ref().and_then(|i| i.size),
        ),
        MessageType::Video(m) => (
            &m.source,
            m.filename.clone().unwrap_or_else(|| m.body.clone()),
            m.info.as_ref().and_then(|i| i.mimetype.clone()),
            m.info.as_ref().and_then(|i| i.size),
        ),
        _ => return None,
    };
    let MediaSource::Plain(mxc) = source else {
        return None;
    };
    Some(MediaRef {
        mxc: mxc.to_string(),
        filename,
        mimetype,
        size: size.map(u64::from),
    })
}

/// Removes the `> quoted` lines a reply fallback puts before the text.
fn strip_reply_fallback(body: &str) -> String {
    let mut lines = body.lines().peekable();
    if !lines.peek().is_some_and(|l| l.starts_with("> ")) {
        return body.to_owned();
    }
    while lines.peek().is_some_and(|l| l.starts_with('>')) {
        lines.next();
    }
    if lines.peek().is_some_and(|l| l.is_empty()) {
        lines.next();
    }
    lines.collect::<Vec<_>>().join("\n")
}

/// Removes the `<mx-reply>` block from a formatted body.
fn strip_reply_html(html: &str) -> String {
    match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &html[..start], &html[end + "</mx-reply>".len()..])
        }
        _ => html.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{strip_reply_fallback, strip_reply_html};

    #[test]
    fn reply_fallbacks_are_removed() {
        assert_eq!(
            strip_reply_fallback("> <@a:x> original\n> more\n\nmy answer"),
            "my answer"
        );
        assert_eq!(strip_reply_fallback("plain text"), "plain text");
        assert_eq!(strip_reply_fallback("a > b"), "a > b");
        assert_eq!(
            strip_reply_html("<mx-reply><blockquote>q</blockquote></mx-reply><b>answer</b>"),
            "<b>answer</b>"
        );
    }
}
