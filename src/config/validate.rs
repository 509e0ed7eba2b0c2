//! Checks the configuration beyond what its types enforce.

use std::collections::BTreeSet;

use super::{Config, Secret};
use crate::ids::GhostTemplate;

/// One problem found in the configuration: the key at fault and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}`: {message}")]
pub struct ValidationError {
    /// Dotted key path.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn problem(key: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        key: key.into(),
        message: message.into(),
    }
}

impl Config {
    /// Every problem that makes this configuration unusable, in file order.
    pub fn validate(&self) -> Vec<ValidationError> {
        let mut problems = Vec::new();
        let hs = &self.homeserver;
        if !matches!(hs.url.scheme(), "http" | "https") {
            problems.push(problem(
                "homeserver.url",
                "must be an http:// or https:// URL",
            ));
        }
        if hs.server_name.is_empty() || hs.server_name.contains(['/', '@', ' ']) {
            problems.push(problem(
                "homeserver.server_name",
                "must be the homeserver's server name, as in @user:<server_name>",
            ));
        }
        let aps = &self.appservice;
        if !is_localpart(&aps.id) {
            problems.push(problem(
                "appservice.id",
                "use lower-case letters, digits, '.', '_', '-'",
            ));
        }
        if !matches!(aps.url.scheme(), "http" | "https") {
            problems.push(problem(
                "appservice.url",
                "must be an http:// or https:// URL",
            ));
        }
        if aps.as_token.expose() == aps.hs_token.expose() && !aps.as_token.is_placeholder() {
            problems.push(problem(
                "appservice.hs_token",
                "must differ from appservice.as_token; run `passerelle generate-registration`",
            ));
        }
        if !is_localpart(&aps.bot_localpart) {
            problems.push(problem(
                "appservice.bot_localpart",
                "use lower-case letters, digits and '._=-/+' only",
            ));
        }
        if !is_localpart(&aps.alias_prefix) {
            problems.push(problem(
                "appservice.alias_prefix",
                "use lower-case letters, digits and '._=-/+' only",
            ));
        }
        for who in self.permissions.keys() {
            let valid = who == "*"
                || (who.starts_with('@') && who.contains(':'))
                || (!who.contains(['@', ' ', '/']) && !who.is_empty());
            if !valid {
                problems.push(problem(
                    format!("permissions.{who}"),
                    format!("`{who}` is neither \"*\", a server name nor a user id (@user:server)"),
                ));
            }
        }
        let mut prefixes = BTreeSet::new();
        for (i, connector) in self.connectors.iter().enumerate() {
            let key = format!("connectors.{i}.ghost_template");
            match GhostTemplate::parse(connector.ghost_template()) {
                Ok(t) => {
                    if t.prefix() == aps.bot_localpart || t.matches_localpart(&aps.bot_localpart) {
                        problems.push(problem(&key, "must not cover the bot's localpart"));
                    }
                    if !prefixes.insert(t.prefix().to_owned()) {
                        problems.push(problem(&key, "another connector already uses this prefix"));
                    }
                }
                Err(e) => problems.push(problem(&key, e)),
            }
            for (j, user) in connector.inbound().invite.iter().enumerate() {
                if ruma::UserId::parse(user.as_str()).is_err() {
                    problems.push(problem(
                        format!("connectors.{i}.inbound.invite.{j}"),
                        format!("`{user}` is not a Matrix user id like @alice:example.org"),
                    ));
                }
            }
            if let super::ConnectorConfig::Xmpp(x) = connector {
                if x.domain.is_empty() || x.domain.contains(['@', '/', ' ']) {
                    problems.push(problem(
                        format!("connectors.{i}.domain"),
                        "must be the component's domain as declared on the XMPP server, e.g. matrix.example.org",
                    ));
                }
                if !x.server.contains(':') {
                    problems.push(problem(
                        format!("connectors.{i}.server"),
                        "must be host:port of the XMPP server's component listener, e.g. 127.0.0.1:5347",
                    ));
                }
            }
            if let super::ConnectorConfig::Email(e) = connector {
                problems.extend(
                    super::email::problems(e)
                        .into_iter()
                        .map(|(key, why)| problem(format!("connectors.{i}.{key}"), why)),
                );
            }
            if let super::ConnectorConfig::Sms(sms) = connector {
                for (key, message) in crate::connectors::sms::config_problems(sms) {
                    problems.push(problem(format!("connectors.{i}.{key}"), message));
                }
            }
            if let Some(room) = &connector.inbound().room
                && ruma::RoomAliasId::parse(room.as_str()).is_err()
            {
                problems.push(problem(
                    format!("connectors.{i}.inbound.room"),
                    format!("`{room}` is not a room alias like #inbox:example.org"),
                ));
            }
        }
        problems
    }

    /// Keys that still hold the example's placeholder values.
    pub fn placeholders(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.appservice.as_token.is_placeholder() {
            keys.push("appservice.as_token");
        }
        if self.appservice.hs_token.is_placeholder() {
            keys.push("appservice.hs_token");
        }
        for c in &self.connectors {
            if let super::ConnectorConfig::Xmpp(x) = c
                && x.secret.is_placeholder()
            {
                keys.push("connectors[type=xmpp].secret");
            }
            if let super::ConnectorConfig::Email(e) = c
                && e.imap.password.is_placeholder()
            {
                keys.push("connectors[type=email].imap.password");
            }
            if let super::ConnectorConfig::Email(e) = c
                && e.smtp.password.as_ref().is_some_and(Secret::is_placeholder)
            {
                keys.push("connectors[type=email].smtp.password");
            }
            if let super::ConnectorConfig::Sms(sms) = c {
                keys.extend(crate::connectors::sms::placeholders(sms));
            }
        }
        keys
    }
}

/// True for a non-empty string of Matrix localpart characters.
pub(crate) fn is_localpart(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'_' | b'=' | b'-' | b'/' | b'+')
        })
}
