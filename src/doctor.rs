//! `passerelle doctor`: checks the configuration, the registration, the homeserver and each
//! connector, one line per check, with the fix for each failure.

use std::{path::Path, sync::Arc};

use crate::{
    config::Config, connector::Health, connectors::Registry, matrix::MatrixClient, store::Store,
};

/// One check's result.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Passed or not.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix a failure.
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: &str, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// The check as printed: `✓ name: detail`, or `✗ name: detail` and a `fix:` line.
    pub fn render(&self) -> String {
        let mut line = format!(
            "{} {}: {}",
            if self.ok { "✓" } else { "✗" },
            self.name,
            self.detail
        );
        if let Some(fix) = &self.fix {
            line.push_str(&format!("\n    fix: {fix}"));
        }
        line
    }
}

/// Runs every check. Later checks that depend on a failed one are reported as skipped failures.
pub async fn run(config_path: &Path, registration_path: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let config = match Config::load(config_path) {
        Ok(c) => {
            checks.push(Check::pass(
                "config",
                format!("{} parsed", config_path.display()),
            ));
            c
        }
        Err(e) => {
            checks.push(Check::fail(
                "config",
                e.to_string(),
                "correct the key named above; config.example.yaml documents every key",
            ));
            return checks;
        }
    };
    let problems = config.validate();
    if problems.is_empty() {
        checks.push(Check::pass("config values", "all valid"));
    } else {
        for p in problems {
            checks.push(Check::fail(
                "config values",
                p.to_string(),
                format!("edit `{}` in {}", p.key, config_path.display()),
            ));
        }
    }
    let placeholders = config.placeholders();
    if placeholders.is_empty() {
        checks.push(Check::pass("tokens", "as_token and hs_token are set"));
    } else {
        checks.push(Check::fail(
            "tokens",
            format!("{} still hold placeholder values", placeholders.join(", ")),
            format!(
                "run `passerelle generate-registration -c {}`",
                config_path.display()
            ),
        ));
    }
    checks.push(check_registration(&config, registration_path));
    checks.push(check_database(&config).await);
    let config = Arc::new(config);
    let client = match MatrixClient::new(&config) {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::fail(
                "homeserver",
                e.to_string(),
                "check homeserver.url",
            ));
            return checks;
        }
    };
    checks.extend(check_homeserver(&config, &client).await);
    match Registry::build(&config.connectors, None) {
        Ok(registry) => {
            if registry.entries().is_empty() {
                checks.push(Check::fail(
                    "connectors",
                    "none enabled",
                    "add an entry under `connectors:`",
                ));
            }
            for entry in registry.entries() {
                let name = format!("connector {}", entry.connector.name());
                checks.push(match entry.connector.probe().await {
                    Health::Ok => Check::pass(&name, "reachable"),
                    Health::Degraded(why) => Check::pass(&name, format!("degraded: {why}")),
                    Health::Down(why) => Check::fail(
                        &name,
                        why.clone(),
                        format!(
                            "fix the `connectors` entry of type {}: {why}",
                            entry.config.kind()
                        ),
                    ),
                });
            }
        }
        Err(e) => checks.push(Check::fail(
            "connectors",
            e.to_string(),
            "fix the ghost_template",
        )),
    }
    checks
}

fn check_registration(config: &Config, path: &Path) -> Check {
    let name = "registration";
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot read {}: {e}", path.display()),
                "run `passerelle generate-registration` and list the file in Synapse's app_service_config_files",
            );
        }
    };
    let found: ruma::api::appservice::Registration = match serde_norway::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            return Check::fail(
                name,
                format!("{}: {e}", path.display()),
                "regenerate it with `passerelle generate-registration`",
            );
        }
    };
    let expected = match crate::registration::build(config) {
        Ok(r) => r,
        Err(e) => return Check::fail(name, e, "fix the config first"),
    };
    let mut differences = Vec::new();
    if found.id != expected.id {
        differences.push("id");
    }
    if found.url != expected.url {
        differences.push("url");
    }
    if found.as_token != expected.as_token {
        differences.push("as_token");
    }
    if found.hs_token != expected.hs_token {
        differences.push("hs_token");
    }
    if found.sender_localpart != expected.sender_localpart {
        differences.push("sender_localpart");
    }
    let users = |r: &ruma::api::appservice::Registration| {
        r.namespaces
            .users
            .iter()
            .map(|n| (n.exclusive, n.regex.clone()))
            .collect::<Vec<_>>()
    };
    if users(&found) != users(&expected) {
        differences.push("namespaces.users");
    }
    if differences.is_empty() {
        Check::pass(name, format!("{} matches the config", path.display()))
    } else {
        Check::fail(
            name,
            format!(
                "{} differs from the config in: {}",
                path.display(),
                differences.join(", ")
            ),
            "run `passerelle generate-registration`, then restart the homeserver (it reads registrations only at startup)",
        )
    }
}

async fn check_database(config: &Config) -> Check {
    match Store::open(&config.database.path, 1).await {
        Ok(store) if store.ping().await => Check::pass(
            "database",
            format!(
                "{} opened, schema up to date",
                config.database.path.display()
            ),
        ),
        Ok(_) => Check::fail("database", "opened but does not answer", "check the disk"),
        Err(e) => Check::fail(
            "database",
            format!("{}: {e}", config.database.path.display()),
            "check `database.path` is writable by passerelle and the disk has room",
        ),
    }
}

async fn check_homeserver(config: &Arc<Config>, client: &MatrixClient) -> Vec<Check> {
    let mut checks = Vec::new();
    let url = config.homeserver.url.as_str();
    match client.versions().await {
        Ok(versions) => checks.push(Check::pass(
            "homeserver",
            format!("{url} answers (spec versions {})", versions.join(", ")),
        )),
        Err(e) => {
            checks.push(Check::fail(
                "homeserver",
                format!("{url}: {e}"),
                "start the homeserver or correct `homeserver.url`",
            ));
            return checks;
        }
    }
    let bot = config.bot_user_id();
    match client.whoami(None).await {
        Ok(me) if me.as_str() == bot => checks.push(Check::pass("whoami", format!("the homeserver knows the bot as {me}"))),
        Ok(me) => checks.push(Check::fail(
            "whoami",
            format!("the as_token belongs to {me}, not {bot}"),
            "make `appservice.bot_localpart` and the registration's sender_localpart agree, then restart the homeserver",
        )),
        Err(e) => {
            checks.push(Check::fail(
                "whoami",
                e.to_string(),
                "the homeserver does not know this as_token: list the registration in app_service_config_files and restart the homeserver",
            ));
            return checks;
        }
    }
    // The ping needs the appservice API to answer: serve a temporary one if passerelle is not running.
    let temporary = serve_ping_if_free(config).await;
    let result = client
        .ping(&format!("doctor-{}", crate::store::now_ms()))
        .await;
    drop(temporary);
    match result {
        Ok(rtt) => checks.push(Check::pass("ping", format!("the homeserver reached passerelle in {} ms", rtt.as_millis()))),
        Err(e) => checks.push(Check::fail(
            "ping",
            e.to_string(),
            format!(
                "the homeserver must reach {} (appservice.url) and present the hs_token; check the registration and firewalls",
                config.appservice.url
            ),
        )),
    }
    checks
}

/// Aborts the temporary ping responder when dropped.
struct Responder(Option<tokio::task::JoinHandle<()>>);

impl Drop for Responder {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Serves `POST /_matrix/app/v1/ping` on `appservice.bind` if nothing listens there yet.
async fn serve_ping_if_free(config: &Arc<Config>) -> Responder {
    use axum::{Json, Router, http::HeaderMap, routing::post};

    let Ok(listener) = tokio::net::TcpListener::bind(config.appservice.bind).await else {
        return Responder(None);
    };
    let token = config.appservice.hs_token.clone();
    let app = Router::new().route(
        "/_matrix/app/v1/ping",
        post(move |headers: HeaderMap| {
            let token = token.clone();
            async move {
                let presented = headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or("");
                if token.matches(presented) {
                    (axum::http::StatusCode::OK, Json(serde_json::json!({})))
                } else {
                    (
                        axum::http::StatusCode::FORBIDDEN,
                        Json(serde_json::json!({"errcode": "M_FORBIDDEN"})),
                    )
                }
            }
        }),
    );
    Responder(Some(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })))
}
