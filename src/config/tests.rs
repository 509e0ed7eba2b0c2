//! Configuration tests: the example stays in sync, errors point at the fault.

use std::{collections::BTreeSet, path::Path};

use serde_norway::Value;

use super::{Config, LoadError, env::Override};

const EXAMPLE: &str = include_str!("../../config.example.yaml");

fn parse(text: &str) -> Result<Config, LoadError> {
    Config::parse(Path::new("config.yaml"), text, &[])
}

/// Every key path in a YAML document (list items share the path of their list).
fn key_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map {
                let key = k
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("{k:?}"));
                let path = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                // Permission entries are data, not keys.
                if path != "permissions" {
                    key_paths(v, &path, out);
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                key_paths(item, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_example_parses_through_the_production_path() {
    let config = parse(EXAMPLE).expect("config.example.yaml must load");
    assert_eq!(
        config.placeholders(),
        [
            "appservice.as_token",
            "appservice.hs_token",
            "connectors[type=xmpp].secret",
            "connectors[type=email].imap.password",
            "connectors[type=email].smtp.password",
            "connectors[type=sms].provider.password",
            "connectors[type=sms].provider.webhook_token",
        ]
    );
    assert!(config.validate().is_empty(), "{:?}", config.validate());
}

#[test]
fn the_example_documents_every_key() {
    let config = parse(EXAMPLE).expect("example loads");
    let serialised = serde_norway::to_value(&config).expect("serialises");
    let example: Value = serde_norway::from_str(EXAMPLE).expect("yaml");
    let mut program_keys = BTreeSet::new();
    key_paths(&serialised, "", &mut program_keys);
    let mut example_keys = BTreeSet::new();
    key_paths(&example, "", &mut example_keys);
    let undocumented: Vec<_> = program_keys.difference(&example_keys).collect();
    assert!(
        undocumented.is_empty(),
        "keys missing from config.example.yaml: {undocumented:?}"
    );
}

#[test]
fn every_example_key_has_a_comment_above_it() {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        let is_key = !trimmed.starts_with('#')
            && trimmed.contains(':')
            && !line.trim_start().starts_with('"');
        if !is_key || i == 0 {
            continue;
        }
        let above = lines[i - 1].trim_start();
        let parent_opens_list = lines[i - 1].trim_end().ends_with(':') || above.starts_with("- ");
        assert!(
            above.starts_with('#')
                || (parent_opens_list
                    && !line.trim_start().starts_with("- ")
                    && above.starts_with("- ")),
            "config.example.yaml line {}: `{}` has no comment above it",
            i + 1,
            line.trim()
        );
    }
}

#[test]
fn errors_name_the_file_line_and_key() {
    let text = EXAMPLE.replace("url: \"http://127.0.0.1:8008\"", "url: \"not a url\"");
    let err = parse(&text).expect_err("bad url").to_string();
    assert!(err.starts_with("config.yaml:11:"), "{err}");
    assert!(err.contains("homeserver.url"), "{err}");

    let text = EXAMPLE.replace("request_timeout: \"30s\"", "request_timeout: \"soon\"");
    let err = parse(&text).expect_err("bad duration").to_string();
    assert!(
        err.contains("homeserver.request_timeout") && err.contains("30s"),
        "{err}"
    );

    let text = EXAMPLE.replace("  max_backoff:", "  max_backof:");
    let err = parse(&text).expect_err("unknown key").to_string();
    assert!(err.contains("max_backof"), "{err}");

    let err = parse("homeserver: [").expect_err("syntax").to_string();
    assert!(err.starts_with("config.yaml"), "{err}");

    let text = EXAMPLE.replace("type: \"test\"", "type: \"carrier-pigeon\"");
    let err = parse(&text).expect_err("unknown connector").to_string();
    assert!(
        err.contains("connectors") && err.contains("carrier-pigeon"),
        "{err}"
    );
}

#[test]
fn environment_overrides_apply_and_name_the_variable_on_error() {
    let ok = [Override {
        variable: "PASSERELLE_HOMESERVER__SERVER_NAME".into(),
        path: vec!["homeserver".into(), "server_name".into()],
        value: Value::String("other.org".into()),
    }];
    let config = Config::parse(Path::new("c.yaml"), EXAMPLE, &ok).expect("override applies");
    assert_eq!(config.homeserver.server_name, "other.org");

    let bad = [Override {
        variable: "PASSERELLE_APPSERVICE__BIND".into(),
        path: vec!["appservice".into(), "bind".into()],
        value: Value::String("nowhere".into()),
    }];
    let err = Config::parse(Path::new("c.yaml"), EXAMPLE, &bad)
        .expect_err("bad bind")
        .to_string();
    assert!(
        err.contains("appservice.bind") && err.contains("PASSERELLE_APPSERVICE__BIND"),
        "{err}"
    );
}

#[test]
fn minimal_config_gets_defaults_and_a_database_next_to_it() {
    let text = "homeserver:\n  url: http://hs:8008\n  server_name: x.org\nappservice:\n  as_token: a1\n  hs_token: h1\n";
    let mut config = parse(text).expect("minimal config loads");
    config.resolve_paths(Path::new("/etc/passerelle/config.yaml"));
    assert_eq!(
        config.database.path,
        Path::new("/etc/passerelle/passerelle.db")
    );
    assert_eq!(config.appservice.bind.to_string(), "127.0.0.1:29333");
    assert_eq!(config.bot_user_id(), "@passerelle:x.org");
    assert!(config.permissions.is_empty());
}

#[test]
fn validation_names_the_key_and_the_fix() {
    let text = EXAMPLE
        .replace(
            "ghost_template: \"_test_{id}\"",
            "ghost_template: \"_Test_\"",
        )
        .replace("invite: [\"@admin:example.org\"]", "invite: [\"admin\"]")
        .replace(
            "bot_localpart: \"passerelle\"",
            "bot_localpart: \"Pass Erelle\"",
        );
    let config = parse(&text).expect("types are fine");
    let keys: Vec<String> = config.validate().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        [
            "appservice.bot_localpart",
            "connectors.0.ghost_template",
            "connectors.0.inbound.invite.0"
        ]
    );
}
