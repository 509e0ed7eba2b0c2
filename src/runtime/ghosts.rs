//! Ghost registration and profiles, and portal rooms for conversations started remotely.

use ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, UserId};
use serde_json::json;

use super::Runtime;
use crate::{
    connectors::Entry,
    matrix::{MatrixError, NewRoom, RetryKind},
    store::{Ghost, Portal},
};

/// A database failure while talking to the homeserver: worth retrying like a network error.
fn storage(e: crate::store::Error) -> MatrixError {
    MatrixError {
        kind: RetryKind::Network,
        status: None,
        errcode: None,
        message: e.to_string(),
    }
}

fn permanent(message: String) -> MatrixError {
    MatrixError {
        kind: RetryKind::Permanent,
        status: None,
        errcode: None,
        message,
    }
}

impl Runtime {
    /// The ghost user id of a portal's contact.
    pub(super) fn portal_ghost(
        &self,
        entry: &Entry,
        portal: &Portal,
    ) -> Result<String, crate::ids::IdError> {
        entry.template.user_id(
            entry.connector.contact_of(&portal.conversation),
            self.server_name(),
        )
    }

    /// Registers the ghost of `remote_id` if needed and keeps its display name current.
    pub async fn ensure_ghost(
        &self,
        entry: &Entry,
        remote_id: &str,
        display_name: Option<&str>,
    ) -> Result<OwnedUserId, MatrixError> {
        let connector = entry.connector.name();
        let user_id = entry
            .template
            .user_id(remote_id, self.server_name())
            .map_err(|e| permanent(e.to_string()))?;
        let user =
            UserId::parse(user_id.as_str()).map_err(|e| permanent(format!("{user_id}: {e}")))?;
        let known = self.store.ghost_by_user(&user_id).await.map_err(storage)?;
        let published = match (display_name, &known) {
            // A new ghost without a name: ask the network once.
            (None, None) => entry.connector.display_name(remote_id).await,
            _ => None,
        };
        let wanted_name = display_name
            .map(str::to_owned)
            .or(published)
            .or_else(|| known.as_ref().and_then(|g| g.display_name.clone()))
            .unwrap_or_else(|| format!("{remote_id} ({connector})"));
        if let Some(g) = &known
            && g.registered
            && g.display_name.as_deref() == Some(wanted_name.as_str())
        {
            return Ok(user);
        }
        let localpart = entry.template.localpart(remote_id);
        if !known.as_ref().is_some_and(|g| g.registered) {
            self.matrix.register(&localpart).await?;
            tracing::debug!(user_id = %user, "Ghost registered.");
        }
        self.matrix.set_display_name(&user, &wanted_name).await?;
        self.store
            .upsert_ghost(&Ghost {
                connector: connector.to_owned(),
                remote_id: remote_id.to_owned(),
                user_id: user_id.clone(),
                display_name: Some(wanted_name),
                registered: true,
            })
            .await
            .map_err(storage)?;
        Ok(user)
    }

    /// Creates the portal room of a conversation started on the remote side, invites whoever
    /// the connector's `inbound` routing names, and records the portal.
    pub(super) async fn create_portal(
        &self,
        entry: &Entry,
        conversation: &str,
        ghost: &UserId,
        name: &str,
        recipient: Option<&str>,
    ) -> Result<OwnedRoomId, MatrixError> {
        let connector = entry.connector.name();
        let routing = entry.config.inbound();
        let mut invite: Vec<OwnedUserId> = routing
            .invite
            .iter()
            .filter_map(|u| UserId::parse(u.as_str()).ok())
            .collect();
        if let Some(user) = recipient.and_then(|r| UserId::parse(r).ok())
            && !invite.contains(&user)
        {
            invite.push(user);
        }
        let inbox_room = match &routing.room {
            Some(alias) => match RoomAliasId::parse(alias.as_str()) {
                Ok(alias) => Some(self.shared_inbox_members(&alias, &mut invite).await?),
                Err(_) => None,
            },
            None => None,
        };
        if invite.is_empty() {
            tracing::warn!(
                connector,
                "No inbound routing configured: the new portal room has no Matrix member. Set connectors[].inbound.invite or .room."
            );
        }
        let room = self
            .matrix
            .create_room(
                Some(ghost),
                NewRoom {
                    name: Some(name.to_owned()),
                    invite,
                    is_direct: true,
                    alias: None,
                    initial_state: self.bridge_info(connector, conversation, name, ghost),
                },
            )
            .await?;
        let portal = Portal {
            connector: connector.to_owned(),
            conversation: conversation.to_owned(),
            room_id: room.to_string(),
        };
        if !self.store.insert_portal(&portal).await.map_err(storage)? {
            // A staff member linked a room meanwhile (an invitation): theirs wins, and the
            // room just made is left empty.
            let existing = self
                .store
                .portal_by_conversation(connector, conversation)
                .await
                .map_err(storage)?;
            if let Some(existing) = existing
                && let Ok(existing_room) = RoomId::parse(existing.room_id.as_str())
            {
                tracing::info!(room_id = %existing_room, "A portal for this conversation appeared meanwhile; using it.");
                if let Err(e) = self.matrix.leave(&room, Some(ghost)).await {
                    tracing::debug!(error = %e, "Could not leave the unused room.");
                }
                return Ok(existing_room);
            }
            self.store
                .insert_portal(&portal)
                .await
                .map_err(|e| permanent(e.to_string()))?;
        }
        tracing::info!(room_id = %room, connector, "Portal room created for a new remote conversation.");
        if let Some(inbox) = inbox_room {
            let text =
                format!("New conversation with {name} ({connector}): https://matrix.to/#/{room}");
            let _ = self
                .store
                .enqueue(&[super::outbox::notice(inbox.as_str(), None, &text, None)])
                .await;
            self.wake.notify_one();
        }
        Ok(room)
    }

    /// Creates the public room behind an alias in a connector's namespace
    /// (`#<ghost template>`), e.g. `#_xmpp_team=40conference.example.org:…` for an XMPP group chat,
    /// if the connector says the address is a group conversation. `Ok(false)`: not ours.
    pub async fn provision_alias(&self, alias: &str) -> Result<bool, MatrixError> {
        let Some((localpart, server)) = alias.strip_prefix('#').and_then(|a| a.split_once(':'))
        else {
            return Ok(false);
        };
        if server != self.server_name() {
            return Ok(false);
        }
        let Some((entry, remote)) = self
            .registry
            .entries()
            .iter()
            .find_map(|e| e.template.remote_id(localpart).map(|r| (e, r)))
        else {
            return Ok(false);
        };
        let Ok(canonical) = entry.connector.resolve_identifier(&remote) else {
            return Ok(false);
        };
        let conversation = entry.connector.conversation_for(&canonical, "");
        if !entry.connector.is_group(&conversation) || canonical != remote {
            return Ok(false);
        }
        let connector = entry.connector.name();
        let host = self.ensure_ghost(entry, &canonical, None).await?;
        let room = self
            .matrix
            .create_room(
                Some(&host),
                NewRoom {
                    name: Some(canonical.clone()),
                    invite: Vec::new(),
                    is_direct: false,
                    alias: Some(localpart.to_owned()),
                    initial_state: self.bridge_info(connector, &canonical, &canonical, &host),
                },
            )
            .await?;
        let portal = Portal {
            connector: connector.to_owned(),
            conversation: conversation.clone(),
            room_id: room.to_string(),
        };
        self.store
            .delete_portal_of(connector, &conversation)
            .await
            .map_err(storage)?;
        self.store.insert_portal(&portal).await.map_err(storage)?;
        entry.connector.open_conversation(&conversation);
        tracing::info!(room_id = %room, connector, "Room created for an alias.");
        Ok(true)
    }

    /// The MSC2346 bridge-info state (under both event types clients read) of a new portal.
    fn bridge_info(
        &self,
        connector: &str,
        conversation: &str,
        name: &str,
        creator: &UserId,
    ) -> Vec<serde_json::Value> {
        let content = json!({
            "bridgebot": self.bot.as_str(),
            "creator": creator.as_str(),
            "protocol": {"id": connector, "displayname": connector},
            "channel": {"id": conversation, "displayname": name},
        });
        let state_key = format!("fr.passerelle://{connector}/{conversation}");
        ["m.bridge", "uk.half-shot.bridge"]
            .into_iter()
            .map(|kind| json!({"type": kind, "state_key": state_key, "content": content}))
            .collect()
    }

    /// Joins the shared inbox room and adds its members to `invite`.
    async fn shared_inbox_members(
        &self,
        alias: &RoomAliasId,
        invite: &mut Vec<OwnedUserId>,
    ) -> Result<OwnedRoomId, MatrixError> {
        let room = self.matrix.resolve_alias(alias).await?;
        self.matrix.join(&room, None).await?;
        for member in self.matrix.joined_members(&room).await? {
            let is_ours = member == self.bot
                || self
                    .registry
                    .is_ghost_namespace(member.as_str(), self.server_name());
            if !is_ours && !invite.contains(&member) {
                invite.push(member);
            }
        }
        Ok(room)
    }
}
