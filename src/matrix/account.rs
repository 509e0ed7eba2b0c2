//! Account-level calls: the bot and ghosts, profiles, ping, typing and receipts.

use std::time::Duration;

use ruma::{
    EventId, MxcUri, OwnedUserId, RoomId, TransactionId, UserId,
    api::client::{
        account::{register, whoami},
        appservice::request_ping,
        discovery::get_supported_versions,
        profile::{ProfileFieldValue, set_profile_field},
        receipt::create_receipt,
        typing::create_typing_event,
    },
};

use super::{MatrixClient, MatrixError};

impl MatrixClient {
    /// The spec versions the homeserver supports (`GET /_matrix/client/versions`).
    pub async fn versions(&self) -> Result<Vec<String>, MatrixError> {
        Ok(self
            .call(get_supported_versions::Request::new(), None)
            .await?
            .versions)
    }

    /// `whoami` as the bot or a ghost; returns the user id the homeserver sees.
    pub async fn whoami(&self, user: Option<&UserId>) -> Result<OwnedUserId, MatrixError> {
        Ok(self.call(whoami::v3::Request::new(), user).await?.user_id)
    }

    /// Asks the homeserver to ping passerelle back; returns the round-trip time.
    pub async fn ping(&self, transaction_id: &str) -> Result<Duration, MatrixError> {
        let mut request = request_ping::v1::Request::new(self.appservice_id.clone());
        request.transaction_id = Some(<&TransactionId>::from(transaction_id).to_owned());
        Ok(self.call(request, None).await?.duration)
    }

    /// Registers a ghost; an already registered one counts as success.
    pub async fn register(&self, localpart: &str) -> Result<(), MatrixError> {
        let mut request = register::v3::Request::new();
        request.username = Some(localpart.to_owned());
        request.inhibit_login = true;
        request.login_type = Some(register::LoginType::ApplicationService);
        match self.call(request, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("M_USER_IN_USE") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Sets a user's display name (acting as that user).
    pub async fn set_display_name(&self, user: &UserId, name: &str) -> Result<(), MatrixError> {
        let request = set_profile_field::v3::Request::new(
            user.to_owned(),
            ProfileFieldValue::DisplayName(name.to_owned()),
        );
        self.call(request, Some(user)).await.map(|_| ())
    }

    /// Sets a user's avatar (acting as that user).
    pub async fn set_avatar_url(&self, user: &UserId, mxc: &MxcUri) -> Result<(), MatrixError> {
        let request = set_profile_field::v3::Request::new(
            user.to_owned(),
            ProfileFieldValue::AvatarUrl(mxc.to_owned()),
        );
        self.call(request, Some(user)).await.map(|_| ())
    }

    /// Shows or hides `user` (a ghost) typing in a room.
    pub async fn typing(
        &self,
        room: &RoomId,
        user: &UserId,
        typing: bool,
    ) -> Result<(), MatrixError> {
        let state = if typing {
            create_typing_event::v3::Typing::Yes(create_typing_event::v3::TypingInfo::new(
                Duration::from_secs(30),
            ))
        } else {
            create_typing_event::v3::Typing::No
        };
        let request =
            create_typing_event::v3::Request::new(user.to_owned(), room.to_owned(), state);
        self.call(request, Some(user)).await.map(|_| ())
    }

    /// Marks `event` as read by `user` (a ghost), e.g. when the remote side reports delivery.
    pub async fn read_receipt(
        &self,
        room: &RoomId,
        user: &UserId,
        event: &EventId,
    ) -> Result<(), MatrixError> {
        let request = create_receipt::v3::Request::new(
            room.to_owned(),
            create_receipt::v3::ReceiptType::Read,
            event.to_owned(),
        );
        self.call(request, Some(user)).await.map(|_| ())
    }
}
