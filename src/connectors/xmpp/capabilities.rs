//! Files, corrections, reactions, retractions, chat states and markers towards XMPP.

use async_trait::async_trait;

use super::{XmppConnector, stanzas};
use crate::connector::{
    Attachment, Edits, Media, Outbound, Reactions, Receipts, Redactions, SendError, Sender, Typing,
};

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
