//! The appservice registration file the homeserver loads (`app_service_config_files`).

use std::path::Path;

use rand::RngCore;
use ruma::api::appservice::{Namespace, Namespaces, Registration, RegistrationInit};

use crate::{
    config::{Config, Secret},
    ids::GhostTemplate,
};

/// Builds the registration matching `config`.
pub fn build(config: &Config) -> Result<Registration, String> {
    let server = &config.homeserver.server_name;
    let mut namespaces = Namespaces::new();
    for (i, c) in config.connectors.iter().enumerate() {
        let template = GhostTemplate::parse(c.ghost_template())
            .map_err(|e| format!("connectors.{i}.ghost_template: {e}"))?;
        namespaces
            .users
            .push(Namespace::new(true, template.namespace_regex(server)));
        namespaces
            .aliases
            .push(Namespace::new(true, template.alias_regex(server)));
    }
    // Ghosts of imported chat history (`passerelle import`).
    let import = GhostTemplate::parse(crate::import::run::GHOST_TEMPLATE)?;
    namespaces
        .users
        .push(Namespace::new(true, import.namespace_regex(server)));
    namespaces.aliases.push(Namespace::new(
        true,
        format!(
            "#{}.+:{}",
            regex::escape(&config.appservice.alias_prefix),
            regex::escape(server)
        ),
    ));
    let mut protocols: Vec<String> = config
        .connectors
        .iter()
        .map(|c| c.kind().to_owned())
        .collect();
    protocols.dedup();
    let mut registration: Registration = RegistrationInit {
        id: config.appservice.id.clone(),
        url: Some(
            config
                .appservice
                .url
                .as_str()
                .trim_end_matches('/')
                .to_owned(),
        ),
        as_token: config.appservice.as_token.expose().to_owned(),
        hs_token: config.appservice.hs_token.expose().to_owned(),
        sender_localpart: config.appservice.bot_localpart.clone(),
        namespaces,
        rate_limited: Some(false),
        protocols: Some(protocols),
    }
    .into();
    registration.receive_ephemeral = config.appservice.receive_ephemeral;
    Ok(registration)
}

/// Serialises a registration as YAML, with a header saying where it came from.
pub fn to_yaml(registration: &Registration) -> Result<String, String> {
    let body = serde_norway::to_string(registration).map_err(|e| e.to_string())?;
    Ok(format!(
        "# Appservice registration for passerelle, written by `passerelle generate-registration`.\n\
         # List this file in Synapse's `app_service_config_files` and restart Synapse.\n{body}"
    ))
}

/// A fresh random token: 32 bytes from the OS generator, hex-encoded.
pub fn random_token() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Replaces the value of the first `key:` line of a YAML section in `text`, keeping comments.
/// Returns `None` if the key is not there.
pub fn replace_scalar(text: &str, section: &str, key: &str, value: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + value.len());
    let mut in_section = false;
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if indent == 0 && !trimmed.is_empty() && !trimmed.starts_with('#') {
            in_section = trimmed.trim_end().strip_suffix(':') == Some(section);
        }
        if in_section && !done && indent > 0 && trimmed.starts_with(&format!("{key}:")) {
            let newline = if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("{}{key}: \"{value}\"{newline}", &line[..indent]));
            done = true;
            continue;
        }
        out.push_str(line);
    }
    done.then_some(out)
}

/// Writes fresh tokens into the config file in place (only those two lines change).
pub fn write_tokens(path: &Path, as_token: &Secret, hs_token: &Secret) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text =
        replace_scalar(&text, "appservice", "as_token", as_token.expose()).ok_or_else(|| {
            format!(
                "{}: no `appservice.as_token` line to update",
                path.display()
            )
        })?;
    let text =
        replace_scalar(&text, "appservice", "hs_token", hs_token.expose()).ok_or_else(|| {
            format!(
                "{}: no `appservice.hs_token` line to update",
                path.display()
            )
        })?;
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::{random_token, replace_scalar};

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let a = random_token();
        let b = random_token();
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
    }

    #[test]
    fn replacing_a_scalar_keeps_comments_and_other_sections() {
        let text = "# top\nhomeserver:\n  as_token: keep\nappservice:\n  # the token\n  as_token: CHANGE_ME\n  hs_token: x # note\n";
        let out = replace_scalar(text, "appservice", "as_token", "abc").expect("replaced");
        assert_eq!(
            out,
            "# top\nhomeserver:\n  as_token: keep\nappservice:\n  # the token\n  as_token: \"abc\"\n  hs_token: x # note\n"
        );
        assert!(replace_scalar(text, "database", "as_token", "abc").is_none());
    }
}

#[cfg(test)]
mod example_tests {
    use std::path::Path;

    use crate::config::Config;

    #[test]
    fn the_committed_example_matches_the_example_config() {
        let config = Config::parse(
            Path::new("config.example.yaml"),
            include_str!("../config.example.yaml"),
            &[],
        )
        .expect("example config");
        let expected = super::build(&config).expect("builds");
        let committed: ruma::api::appservice::Registration =
            serde_norway::from_str(include_str!("../registration.yaml"))
                .expect("registration.yaml parses");
        assert_eq!(
            serde_norway::to_value(&committed).expect("value"),
            serde_norway::to_value(&expected).expect("value"),
            "registration.yaml is out of date: regenerate it from config.example.yaml"
        );
    }

    #[test]
    fn namespaces_cover_the_ghosts_and_nothing_else() {
        let config = Config::parse(
            Path::new("c.yaml"),
            include_str!("../config.example.yaml"),
            &[],
        )
        .expect("config");
        let reg = super::build(&config).expect("builds");
        let users = regex::Regex::new(&format!("^{}$", reg.namespaces.users[0].regex))
            .expect("valid regex");
        assert!(users.is_match("@_test_alice:example.org"));
        assert!(users.is_match("@_test_bob=40example.com:example.org"));
        assert!(!users.is_match("@_test_:example.org"));
        assert!(!users.is_match("@alice:example.org"));
        assert!(!users.is_match("@_test_alice:example.org.evil"));
        assert!(!users.is_match("@passerelle:example.org"));
        assert!(reg.receive_ephemeral);
        assert_eq!(reg.rate_limited, Some(false));
    }
}
