//! Remote messages: stored by the connectors' sink, then bridged into their portal room.

use std::sync::Weak;

use async_trait::async_trait;
use serde_json::json;

use super::{
    Runtime,
    outbox::{MatrixEvent, RemoteRef, to_matrix},
    queues::Outcome,
};
use crate::{
    connector::{ConnectorError, Inbound, InboundSink},
    store::RemoteInboxRow,
};

/// The durable hand-off given to connectors.
pub(super) struct Sink {
    pub(super) runtime: Weak<Runtime>,
}

#[async_trait]
impl InboundSink for Sink {
    async fn commit(&self, connector: &str, message: Inbound) -> Result<(), ConnectorError> {
        let runtime = self
            .runtime
            .upgrade()
            .ok_or_else(|| ConnectorError("shutting down".into()))?;
        let payload = serde_json::to_string(&message).map_err(|e| ConnectorError(e.to_string()))?;
        let fresh = runtime
            .store
            .accept_remote(
                connector,
                &message.remote_id,
                &message.conversation,
                &payload,
            )
            .await
            .map_err(|e| ConnectorError(format!("cannot store the message: {e}")))?;
        if fresh {
            runtime.wake.notify_one();
        } else {
            tracing::debug!(connector, "Remote message already stored; ignored.");
        }
        Ok(())
    }
}

impl Runtime {
    pub(super) async fn handle_remote(&self, row: &RemoteInboxRow) -> Outcome {
        let message: Inbound = match serde_json::from_str(&row.payload) {
            Ok(m) => m,
            Err(e) => return Outcome::Skipped(format!("unreadable remote message: {e}")),
        };
        let Some(entry) = self.registry.by_name(&row.connector) else {
            return Outcome::Retry {
                error: format!("connector {} is not enabled", row.connector),
                retry_after: None,
            };
        };
        // A message addressed to a Matrix user who may not use the bridge is not delivered.
        let recipient = message
            .recipient
            .clone()
            .filter(|r| self.permissions.level(r) >= crate::config::PermissionLevel::Relay);
        if message.recipient.is_some() && recipient.is_none() {
            return Outcome::Skipped("the addressed Matrix user may not use the bridge".into());
        }
        let ghost = match self
            .ensure_ghost(entry, &message.sender, message.sender_name.as_deref())
            .await
        {
            Ok(g) => g,
            Err(e) => return e.into(),
        };
        let room = match self
            .store
            .portal_by_conversation(&row.connector, &message.conversation)
            .await
        {
            Ok(Some(p)) => p.room_id,
            Ok(None) => {
                let name = message
                    .sender_name
                    .clone()
                    .unwrap_or_else(|| message.conversation.clone());
                match self
                    .create_portal(
                        entry,
                        &message.conversation,
                        &ghost,
                        &name,
                        recipient.as_deref(),
                    )
                    .await
                {
                    Ok(room) => room.to_string(),
                    Err(e) => return e.into(),
                }
            }
            Err(e) => return e.into(),
        };
        let mut content = json!({"msgtype": "m.text", "body": message.body});
        if let Some(html) = &message.html {
            content["format"] = json!("org.matrix.custom.html");
            content["formatted_body"] = json!(html);
        }
        if let Some(target) = &message.reply_to
            && let Ok(Some(m)) = self.store.message_by_remote(&row.connector, target).await
            && m.room_id == room
        {
            content["m.relates_to"] = json!({"m.in_reply_to": {"event_id": m.event_id}});
        }
        let event = MatrixEvent {
            sender: Some(ghost.to_string()),
            event_type: "m.room.message".into(),
            content,
            ts: message.timestamp_ms,
            remote: Some(RemoteRef {
                connector: row.connector.clone(),
                remote_id: message.remote_id.clone(),
            }),
        };
        Outcome::Done(vec![to_matrix(&room, event)])
    }
}
