//! The enabled connectors, built from the configuration. Adding a network touches this file
//! (one `match` arm) and its own module only.

pub mod email;
pub mod sms;
pub mod test;
pub mod xmpp;

use std::sync::Arc;

use crate::{
    config::ConnectorConfig,
    connector::{Connector, ThirdPartyProtocol},
    ids::{GhostTemplate, IdError, split_user_id},
    store::Store,
};

/// One enabled connector with its ghost template.
pub struct Entry {
    /// The connector.
    pub connector: Arc<dyn Connector>,
    /// How its ghosts are named.
    pub template: GhostTemplate,
    /// Its configuration.
    pub config: ConnectorConfig,
}

/// All enabled connectors.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// Builds every configured connector; `store` holds the state connectors keep (`None` when
    /// they only get probed).
    pub fn build(configs: &[ConnectorConfig], store: Option<&Store>) -> Result<Self, IdError> {
        let mut entries = Vec::with_capacity(configs.len());
        for config in configs {
            let template = GhostTemplate::parse(config.ghost_template())?;
            let connector: Arc<dyn Connector> = match config {
                ConnectorConfig::Test(c) => Arc::new(test::TestConnector::new(c.clone())),
                ConnectorConfig::Xmpp(c) => Arc::new(xmpp::XmppConnector::new(c.clone())),
                ConnectorConfig::Email(c) => {
                    Arc::new(email::EmailConnector::new((**c).clone(), store.cloned()))
                }
                ConnectorConfig::Sms(c) => {
                    Arc::new(sms::SmsConnector::new((**c).clone(), store.cloned()))
                }
            };
            entries.push(Entry {
                connector,
                template,
                config: config.clone(),
            });
        }
        Ok(Self { entries })
    }

    /// Every entry, in configuration order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The connector called `name`.
    pub fn by_name(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.connector.name() == name)
    }

    /// The connector whose namespace holds `user_id`, with the remote id it stands for.
    pub fn by_ghost(&self, user_id: &str, server_name: &str) -> Option<(&Entry, String)> {
        let (localpart, server) = split_user_id(user_id)?;
        if server != server_name {
            return None;
        }
        self.entries
            .iter()
            .find_map(|e| e.template.remote_id(localpart).map(|remote| (e, remote)))
    }

    /// True if `user_id` is in any ghost namespace (even if it does not decode).
    pub fn is_ghost_namespace(&self, user_id: &str, server_name: &str) -> bool {
        split_user_id(user_id).is_some_and(|(localpart, server)| {
            server == server_name
                && self
                    .entries
                    .iter()
                    .any(|e| e.template.matches_localpart(localpart))
        })
    }

    /// The connector answering third-party lookups for `protocol`.
    pub fn by_protocol(&self, protocol: &str) -> Option<(&Entry, ThirdPartyProtocol)> {
        self.entries.iter().find_map(|e| {
            e.connector
                .protocol()
                .filter(|p| p.id == protocol)
                .map(|p| (e, p))
        })
    }
}
