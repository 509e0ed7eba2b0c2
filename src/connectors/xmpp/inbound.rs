//! Stanzas from the XMPP server: messages, bounces, presence, disco and ping.

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

use super::{NAME, XmppConnector, addressing, stanzas};
use crate::connector::{ConnectorCtx, Inbound, InboundKind, RemoteFile};

impl XmppConnector {
    /// True if `from` may write to Matrix users.
    pub(super) fn allowed(&self, from: &BareJid) -> bool {
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
    pub(super) fn recipient(&self, to: Option<&Jid>) -> Option<String> {
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

    /// Bridges one message stanza; returns the XEP-0184 receipt to send back, once the message
    /// is stored, when the sender asked for one.
    pub(super) async fn handle_message(
        &self,
        message: Message,
        ctx: &ConnectorCtx,
    ) -> Option<Stanza> {
        let Some(from) = message.from.as_ref().map(Jid::to_bare) else {
            tracing::warn!(connector = NAME, "Dropped a message without a sender.");
            return None;
        };
        if !self.allowed(&from) {
            tracing::warn!(connector = NAME, domain = %from.domain(), "Dropped a message from a domain that is not allowed.");
            return None;
        }
        if message.type_ == MessageType::Error {
            self.handle_bounce(&message, &from, ctx).await;
            return None;
        }
        if message.type_ == MessageType::Groupchat {
            self.handle_groupchat(&message, ctx).await;
            return None;
        }
        if !stanzas::is_chat(&message) {
            tracing::debug!(
                connector = NAME,
                "Ignored a message that is not a one-to-one chat."
            );
            return None;
        }
        let Some(recipient) = self.recipient(message.to.as_ref()) else {
            tracing::info!(
                connector = NAME,
                "Dropped a message to an address that is no Matrix user."
            );
            return None;
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
            return None;
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
            ..Inbound::default()
        };
        let wants_receipt = received.body.is_some() && stanzas::wants_receipt(&message);
        if let Err(e) = ctx.inbound.commit(NAME, inbound).await {
            // No receipt: the sender's client shows the message as not delivered.
            tracing::error!(connector = NAME, error = %e, "Could not store an incoming message; it is lost.");
            return None;
        }
        if !wants_receipt {
            return None;
        }
        let (Some(to), Some(from), Some(id)) = (message.from, message.to, message.id) else {
            return None;
        };
        Some(Stanza::Message(stanzas::receipt(from, to, &id.0)))
    }

    /// A message of ours the server or the contact's server sent back as an error.
    pub(super) async fn handle_bounce(
        &self,
        message: &Message,
        from: &BareJid,
        ctx: &ConnectorCtx,
    ) {
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
    pub(super) fn cap(&self, body: String) -> String {
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

    pub(super) fn handle_presence(&self, presence: Presence) -> Vec<Stanza> {
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

    pub(super) fn handle_iq(&self, iq: Iq) -> Vec<Stanza> {
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
