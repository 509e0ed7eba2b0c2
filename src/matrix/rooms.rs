//! Rooms: creation, membership, state and sending events.

use ruma::{
    EventId, OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, TransactionId, UserId,
    api::client::{
        alias::get_alias,
        membership::{invite_user, join_room_by_id, joined_members, kick_user, leave_room},
        message::send_message_event,
        redact::redact_event,
        room::{create_room, get_room_event},
        state::{get_state_event_for_key, send_state_event},
    },
    events::{
        AnyInitialStateEvent, AnyMessageLikeEventContent, AnyStateEventContent,
        MessageLikeEventType,
    },
    serde::Raw,
};
use serde_json::value::RawValue;

use super::{MatrixClient, MatrixError, NewRoom, permanent_error};

impl MatrixClient {
    /// Reads the content of a state event, as `user` (or the bot).
    pub async fn state(
        &self,
        room: &RoomId,
        user: Option<&UserId>,
        event_type: &str,
        state_key: &str,
    ) -> Result<serde_json::Value, MatrixError> {
        let request = get_state_event_for_key::v3::Request::new(
            room.to_owned(),
            event_type.into(),
            state_key.to_owned(),
        );
        let response = self.call(request, user).await?;
        serde_json::from_str(response.event_or_content.get())
            .map_err(|e| permanent_error(format!("unreadable {event_type} state: {e}")))
    }

    /// Creates a room, as `creator` (a ghost) or the bot.
    pub async fn create_room(
        &self,
        creator: Option<&UserId>,
        room: NewRoom,
    ) -> Result<OwnedRoomId, MatrixError> {
        let mut request = create_room::v3::Request::new();
        request.name = room.name;
        request.invite = room.invite;
        request.is_direct = room.is_direct;
        request.preset = Some(match room.alias {
            Some(_) => create_room::v3::RoomPreset::PublicChat,
            None => create_room::v3::RoomPreset::TrustedPrivateChat,
        });
        request.room_alias_name = room.alias;
        request.initial_state = room
            .initial_state
            .into_iter()
            .map(|v| {
                let raw = RawValue::from_string(v.to_string())
                    .map_err(|e| MatrixError::bug(format!("initial state: {e}")))?;
                Ok(Raw::<AnyInitialStateEvent>::from_json(raw))
            })
            .collect::<Result<_, MatrixError>>()?;
        Ok(self.call(request, creator).await?.room_id)
    }

    /// Invites `target` to a room, acting as `inviter` (or the bot).
    pub async fn invite(
        &self,
        room: &RoomId,
        inviter: Option<&UserId>,
        target: &UserId,
    ) -> Result<(), MatrixError> {
        let request = invite_user::v3::Request::new(
            room.to_owned(),
            invite_user::v3::InvitationRecipient::UserId(invite_user::v3::InviteUserId::new(
                target.to_owned(),
            )),
        );
        match self.call(request, inviter).await {
            Ok(_) => Ok(()),
            // Already in the room or already invited: nothing to do.
            Err(e) if e.status == Some(403) && e.message.contains("already in the room") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Joins a room as `user` (or the bot).
    pub async fn join(&self, room: &RoomId, user: Option<&UserId>) -> Result<(), MatrixError> {
        self.call(join_room_by_id::v3::Request::new(room.to_owned()), user)
            .await
            .map(|_| ())
    }

    /// Leaves a room as `user` (or the bot).
    pub async fn leave(&self, room: &RoomId, user: Option<&UserId>) -> Result<(), MatrixError> {
        self.call(leave_room::v3::Request::new(room.to_owned()), user)
            .await
            .map(|_| ())
    }

    /// Kicks `target` out of a room, acting as `by` (or the bot).
    pub async fn kick(
        &self,
        room: &RoomId,
        by: Option<&UserId>,
        target: &UserId,
        reason: Option<String>,
    ) -> Result<(), MatrixError> {
        let mut request = kick_user::v3::Request::new(room.to_owned(), target.to_owned());
        request.reason = reason;
        self.call(request, by).await.map(|_| ())
    }

    /// Sends a message-like event with a deterministic transaction id and an optional
    /// massaged timestamp; returns the event id.
    pub async fn send(
        &self,
        room: &RoomId,
        sender: Option<&UserId>,
        event_type: &str,
        content: &serde_json::Value,
        txn_id: &str,
        timestamp_ms: Option<i64>,
    ) -> Result<String, MatrixError> {
        let raw = RawValue::from_string(content.to_string())
            .map_err(|e| MatrixError::bug(format!("event content: {e}")))?;
        let mut request = send_message_event::v3::Request::new_raw(
            room.to_owned(),
            <&TransactionId>::from(txn_id).to_owned(),
            MessageLikeEventType::from(event_type),
            Raw::<AnyMessageLikeEventContent>::from_json(raw),
        );
        request.timestamp = timestamp_ms
            .and_then(|t| u64::try_from(t).ok())
            .and_then(ruma::UInt::new)
            .map(ruma::MilliSecondsSinceUnixEpoch);
        Ok(self.call(request, sender).await?.event_id.to_string())
    }

    /// Resolves a room alias to a room id.
    pub async fn resolve_alias(&self, alias: &RoomAliasId) -> Result<OwnedRoomId, MatrixError> {
        Ok(self
            .call(get_alias::v3::Request::new(alias.to_owned()), None)
            .await?
            .room_id)
    }

    /// The joined members of a room (the bot must be in it).
    pub async fn joined_members(&self, room: &RoomId) -> Result<Vec<OwnedUserId>, MatrixError> {
        let response = self
            .call(joined_members::v3::Request::new(room.to_owned()), None)
            .await?;
        Ok(response.joined.into_keys().collect())
    }

    /// Redacts an event, as `sender` (a ghost) or the bot, with a deterministic transaction id;
    /// returns the redaction's event id.
    pub async fn redact(
        &self,
        room: &RoomId,
        sender: Option<&UserId>,
        event: &EventId,
        txn_id: &str,
        reason: Option<String>,
    ) -> Result<String, MatrixError> {
        let mut request = redact_event::v3::Request::new(
            room.to_owned(),
            event.to_owned(),
            <&TransactionId>::from(txn_id).to_owned(),
        );
        request.reason = reason;
        Ok(self.call(request, sender).await?.event_id.to_string())
    }

    /// Sets a state event, as `sender` (a ghost) or the bot; returns its event id.
    pub async fn set_state(
        &self,
        room: &RoomId,
        sender: Option<&UserId>,
        event_type: &str,
        state_key: &str,
        content: &serde_json::Value,
    ) -> Result<String, MatrixError> {
        let raw = RawValue::from_string(content.to_string())
            .map_err(|e| permanent_error(format!("state content: {e}")))?;
        let request = send_state_event::v3::Request::new_raw(
            room.to_owned(),
            event_type.into(),
            state_key.to_owned(),
            Raw::<AnyStateEventContent>::from_json(raw),
        );
        Ok(self.call(request, sender).await?.event_id.to_string())
    }

    /// One event of a room as JSON, read as `user` (a ghost in the room) or the bot.
    pub async fn event(
        &self,
        room: &RoomId,
        user: Option<&UserId>,
        event: &EventId,
    ) -> Result<serde_json::Value, MatrixError> {
        let response = self
            .call(
                get_room_event::v3::Request::new(room.to_owned(), event.to_owned()),
                user,
            )
            .await?;
        serde_json::from_str(response.event.json().get())
            .map_err(|e| permanent_error(format!("unreadable event: {e}")))
    }
}
