//! passerelle's configuration: one YAML file, typed, with environment overrides.
//!
//! Loading order: the file is parsed (errors name the file, line and key), then every
//! `PASSERELLE_SECTION__KEY` environment variable overrides the matching key
//! (`__` separates nesting levels, list items are numbered from 0), and a variable ending in
//! `_FILE` reads the value from that file (for secrets). [`Config::validate`] then checks
//! what types cannot express.

mod email;
pub mod env;
mod secret;
mod validate;

use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};
use url::Url;

#[cfg(test)]
pub(crate) use self::validate::is_localpart;
pub use self::{
    email::{AfterBridging, EmailConnectorConfig, ImapConfig, Security, SmtpConfig},
    secret::{PLACEHOLDER_PREFIX, Secret},
    validate::ValidationError,
};

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The homeserver passerelle is registered with.
    pub homeserver: HomeserverConfig,
    /// passerelle's own appservice listener and identity.
    pub appservice: AppserviceConfig,
    /// Where passerelle keeps its durable state.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Log level and format.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// Files fetched from remote networks.
    #[serde(default)]
    pub media: MediaConfig,
    /// Prometheus metrics.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Who may use the bridge: keys are `"*"`, a server name or a user id; values are levels.
    #[serde(default)]
    pub permissions: BTreeMap<String, PermissionLevel>,
    /// The remote networks to bridge, one entry per connector.
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
}

/// Prometheus metrics, on a listener of their own.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address serving `/metrics` (keep it private); none: no metrics listener.
    #[serde(default)]
    pub bind: Option<SocketAddr>,
}

/// How to reach the homeserver.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HomeserverConfig {
    /// Client-server API base URL, e.g. `http://127.0.0.1:8008`.
    pub url: Url,
    /// The server name in user ids (`@user:<server_name>`).
    pub server_name: String,
    /// Timeout of one request to the homeserver.
    #[serde(default = "default_hs_timeout", with = "humantime_serde_compat")]
    pub request_timeout: Duration,
    /// Longest wait between two retries of a failed send.
    #[serde(default = "default_max_backoff", with = "humantime_serde_compat")]
    pub max_backoff: Duration,
    /// Largest media file passerelle downloads from or uploads to the homeserver.
    #[serde(default = "default_max_media_size")]
    pub max_media_size: ByteSize,
}

/// The appservice side: what the homeserver calls, and the bot's identity.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppserviceConfig {
    /// Unique id of this appservice on the homeserver.
    #[serde(default = "default_as_id")]
    pub id: String,
    /// Address the appservice API listens on.
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// URL the homeserver uses to reach `bind` (written into the registration).
    #[serde(default = "default_public_url")]
    pub url: Url,
    /// Token passerelle presents to the homeserver.
    pub as_token: Secret,
    /// Token the homeserver presents to passerelle.
    pub hs_token: Secret,
    /// Localpart of the bridge bot (`sender_localpart` in the registration).
    #[serde(default = "default_bot_localpart")]
    pub bot_localpart: String,
    /// Display name of the bridge bot.
    #[serde(default = "default_bot_displayname")]
    pub bot_displayname: String,
    /// Largest transaction body accepted.
    #[serde(default = "default_max_body_size")]
    pub max_body_size: ByteSize,
    /// Time allowed to receive one request and answer it.
    #[serde(default = "default_request_timeout", with = "humantime_serde_compat")]
    pub request_timeout: Duration,
    /// Accept the legacy `?access_token=` query parameter (it must match the header if both are sent).
    #[serde(default = "default_true")]
    pub accept_query_token: bool,
    /// Ask the homeserver for typing notifications and receipts (`receive_ephemeral`).
    #[serde(default = "default_true")]
    pub receive_ephemeral: bool,
    /// Prefix of room aliases passerelle owns (its exclusive alias namespace).
    #[serde(default = "default_alias_prefix")]
    pub alias_prefix: String,
}

/// The SQLite database.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Path of the SQLite file; relative paths are resolved next to the config file.
    #[serde(default = "default_db_path")]
    pub path: PathBuf,
    /// Connections in the pool.
    #[serde(default = "default_db_connections")]
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: default_db_path(),
            max_connections: default_db_connections(),
        }
    }
}

/// Fetching files that remote messages link to.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Also fetch from loopback and private addresses (for servers on an internal network);
    /// off by default so a remote user cannot make passerelle probe the internal network.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// Time allowed to fetch one file.
    #[serde(default = "default_media_timeout", with = "humantime_serde_compat")]
    pub download_timeout: Duration,
    /// Public base URL of passerelle's appservice listener, for links to files shared from
    /// Matrix to networks that carry links (XMPP); passerelle serves them under
    /// `/_passerelle/media/v1/`. None: such files are not shared, and the room is told.
    #[serde(default)]
    pub public_url: Option<Url>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            download_timeout: default_media_timeout(),
            public_url: None,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// A `tracing` filter, e.g. `info` or `passerelle=debug,info`.
    #[serde(default = "default_log_level")]
    pub level: String,
    /// `text` or `json`.
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            level: default_log_level(),
            format: LogFormat::default(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What a Matrix user may do with the bridge, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionLevel {
    /// Nothing: messages are not bridged.
    Block,
    /// Messages in rooms others set up are bridged.
    Relay,
    /// May start conversations with remote contacts.
    User,
    /// May also run administrative bot commands.
    Admin,
}

impl fmt::Display for PermissionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Block => "block",
            Self::Relay => "relay",
            Self::User => "user",
            Self::Admin => "admin",
        })
    }
}

/// One bridged network.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ConnectorConfig {
    /// A loopback network inside passerelle, for smoke tests and the local demo.
    Test(TestConnectorConfig),
    /// XMPP, as an external component (XEP-0114) of the organisation's XMPP server.
    Xmpp(XmppConnectorConfig),
    /// Email: a mailbox read over IMAP, mail sent through an SMTP relay.
    Email(Box<EmailConnectorConfig>),
    /// SMS, through the organisation's gateway (Kannel).
    Sms(Box<SmsConnectorConfig>),
}

impl ConnectorConfig {
    /// Ghost localpart template; `{id}` stands for the escaped remote id.
    pub fn ghost_template(&self) -> &str {
        match self {
            Self::Test(c) => &c.ghost_template,
            Self::Xmpp(c) => &c.ghost_template,
            Self::Email(c) => &c.ghost_template,
            Self::Sms(c) => &c.ghost_template,
        }
    }

    /// Routing of conversations started on the remote side.
    pub fn inbound(&self) -> &InboundRouting {
        match self {
            Self::Test(c) => &c.inbound,
            Self::Xmpp(c) => &c.inbound,
            Self::Email(c) => &c.inbound,
            Self::Sms(c) => &c.inbound,
        }
    }

    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Test(_) => "test",
            Self::Xmpp(_) => "xmpp",
            Self::Email(_) => "email",
            Self::Sms(_) => "sms",
        }
    }
}

/// Routing of conversations that start on the remote side.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRouting {
    /// Users invited to each new portal room.
    #[serde(default)]
    pub invite: Vec<String>,
    /// Or: a room alias used as a shared inbox (messages from new contacts are announced there).
    #[serde(default)]
    pub room: Option<String>,
}

/// The test connector: a network that lives inside passerelle.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TestConnectorConfig {
    /// Ghost localpart template; `{id}` stands for the escaped remote id.
    #[serde(default = "default_test_ghost_template")]
    pub ghost_template: String,
    /// Where a message from a contact nobody has talked to yet goes.
    #[serde(default)]
    pub inbound: InboundRouting,
    /// Address of the loopback control API used to inject remote messages and read sent ones.
    #[serde(default = "default_test_control_bind")]
    pub control_bind: SocketAddr,
    /// Answer every message with `echo: <text>`, as a remote contact would.
    #[serde(default)]
    pub echo: bool,
    /// Append every sent message to this JSON-lines file (it survives restarts); none: memory only.
    #[serde(default)]
    pub record_path: Option<PathBuf>,
}

/// The XMPP connector: an external component (XEP-0114).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct XmppConnectorConfig {
    /// Ghost localpart template; `{id}` stands for the escaped bare JID.
    #[serde(default = "default_xmpp_ghost_template")]
    pub ghost_template: String,
    /// Where a conversation started on the XMPP side goes (besides the Matrix user it is
    /// addressed to).
    #[serde(default)]
    pub inbound: InboundRouting,
    /// Host and port of the XMPP server's component listener.
    #[serde(default = "default_xmpp_server")]
    pub server: String,
    /// The component's domain, as declared on the XMPP server (e.g. `matrix.example.org`).
    pub domain: String,
    /// The component secret shared with the XMPP server.
    pub secret: Secret,
    /// Domains whose users may write to Matrix users; empty: any domain.
    #[serde(default)]
    pub allowed_domains: Vec<String>,
    /// Largest message body sent or accepted.
    #[serde(default = "default_xmpp_max_message")]
    pub max_message_size: ByteSize,
    /// Domains of group chat (MUC) services: a JID there is a room, whose ghost, invited to a
    /// Matrix room, links the two.
    #[serde(default)]
    pub muc_services: Vec<String>,
    /// Nickname of the bridge's own occupant in linked group chats.
    #[serde(default = "default_muc_nick")]
    pub muc_nick: String,
}

/// The SMS connector: the organisation's number, shared by all staff, through a gateway.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConnectorConfig {
    /// Ghost localpart template; `{id}` stands for the E.164 number (`+33612345678`).
    #[serde(default = "default_sms_ghost_template")]
    pub ghost_template: String,
    /// Where an SMS from a number nobody has talked to yet goes.
    #[serde(default)]
    pub inbound: InboundRouting,
    /// The organisation's number SMS are sent from (E.164, or national in `default_region`).
    pub number: String,
    /// Region (ISO 3166 code, e.g. `FR`) of numbers written without their country code.
    pub default_region: String,
    /// Longest message sent, in SMS segments; a longer one is refused with a notice.
    #[serde(default = "default_sms_max_segments")]
    pub max_segments: usize,
    /// Messages per second sent to the gateway at most (0: no limit).
    #[serde(default = "default_sms_rate_limit")]
    pub rate_limit: f64,
    /// Texts (whole message, any case) by which a contact stops receiving messages.
    #[serde(default = "default_sms_opt_out")]
    pub opt_out_keywords: Vec<String>,
    /// Texts by which a contact who opted out receives messages again.
    #[serde(default = "default_sms_opt_in")]
    pub opt_in_keywords: Vec<String>,
    /// Address passerelle listens on for the gateway's calls (incoming SMS, delivery reports).
    #[serde(default = "default_sms_webhook_bind")]
    pub webhook_bind: SocketAddr,
    /// Base URL the gateway uses to reach `webhook_bind` (put into delivery-report URLs).
    #[serde(default = "default_sms_webhook_url")]
    pub webhook_url: Url,
    /// The gateway.
    pub provider: SmsProviderConfig,
}

/// The SMS gateway, selected by `type`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SmsProviderConfig {
    /// Kannel's smsbox: `sendsms` out; `post-url` and `dlr-url` callbacks in.
    Kannel(KannelConfig),
    /// A direct SMPP 3.4 link to an operator's or aggregator's SMSC (passerelle as ESME).
    Smpp(SmppConfig),
    /// A cloud provider with Twilio's Messages API (REST out, signed webhooks in).
    Twilio(TwilioConfig),
}

/// A Twilio-compatible REST provider.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// Base URL of the API.
    #[serde(default = "default_twilio_api_url")]
    pub api_url: Url,
    /// The account SID (`AC…`).
    pub account_sid: String,
    /// The account's auth token: API password and webhook signing key.
    pub auth_token: Secret,
}

/// An SMPP 3.4 link, bound as transceiver.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmppConfig {
    /// host:port of the SMSC.
    pub server: String,
    /// The ESME's system_id.
    pub system_id: String,
    /// Its password.
    pub password: Secret,
    /// system_type, if the SMSC wants one (usually empty).
    #[serde(default)]
    pub system_type: String,
    /// Interval of the enquire_link keep-alive; an unanswered one drops and restores the link.
    #[serde(default = "default_smpp_enquire_link", with = "humantime_serde_compat")]
    pub enquire_link_interval: Duration,
    /// Time allowed for the SMSC to answer a request.
    #[serde(
        default = "default_smpp_response_timeout",
        with = "humantime_serde_compat"
    )]
    pub response_timeout: Duration,
    /// Send a long text as one submit_sm with the message_payload TLV instead of UDH parts.
    #[serde(default)]
    pub message_payload: bool,
    /// How long the parts of an incoming concatenated SMS wait for the rest; then those that
    /// came are bridged with a note that the rest never arrived.
    #[serde(
        default = "default_smpp_reassembly_timeout",
        with = "humantime_serde_compat"
    )]
    pub reassembly_timeout: Duration,
}

/// A Kannel gateway (bearerbox + smsbox).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KannelConfig {
    /// smsbox's sendsms URL, e.g. `http://127.0.0.1:13013/cgi-bin/sendsms`.
    pub sendsms_url: Url,
    /// A `sendsms-user` username.
    pub username: String,
    /// Its password.
    pub password: Secret,
    /// A token Kannel's calls must carry (`?token=` in `post-url`; passerelle adds it to
    /// `dlr-url` itself); calls without it are refused.
    pub webhook_token: Secret,
}

impl Config {
    /// Reads, parses and overrides the configuration, without validating it.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
            path: path.to_owned(),
            error,
        })?;
        let overrides =
            env::collect(std::env::vars()).map_err(|message| LoadError::Env { message })?;
        let mut config = Self::parse(path, &text, &overrides)?;
        config.resolve_paths(path);
        Ok(config)
    }

    /// Parses YAML text and applies environment overrides (`overrides` as from the environment).
    pub fn parse(path: &Path, text: &str, overrides: &[env::Override]) -> Result<Self, LoadError> {
        let deserializer = serde_norway::Deserializer::from_str(text);
        let parsed: Result<Self, _> = serde_path_to_error::deserialize(deserializer);
        let config = parsed.map_err(|e| LoadError::from_yaml(path, e))?;
        if overrides.is_empty() {
            return Ok(config);
        }
        let mut value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| LoadError::Syntax {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        for o in overrides {
            o.apply(&mut value)
                .map_err(|message| LoadError::Env { message })?;
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            let vars = overrides
                .iter()
                .map(|o| o.variable.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            LoadError::Env {
                message: format!(
                    "{}: key `{key}` after applying environment overrides ({vars}): {}",
                    path.display(),
                    e.inner()
                ),
            }
        })
    }

    /// Makes a relative database path relative to the config file's directory.
    fn resolve_paths(&mut self, config_path: &Path) {
        if self.database.path.is_relative() {
            let dir = config_path.parent().unwrap_or(Path::new("."));
            self.database.path = dir.join(&self.database.path);
        }
    }

    /// The bot's full user id.
    pub fn bot_user_id(&self) -> String {
        format!(
            "@{}:{}",
            self.appservice.bot_localpart, self.homeserver.server_name
        )
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The YAML is not well-formed.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Parser message with line and column.
        message: String,
    },
    /// A key has a wrong or missing value.
    #[error("{}{location}: key `{key}`: {message}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// `:line:column`, when known.
        location: String,
        /// Dotted key path, e.g. `homeserver.url`.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// An environment override is invalid.
    #[error("{message}")]
    Env {
        /// What is wrong.
        message: String,
    },
}

impl LoadError {
    fn from_yaml(path: &Path, e: serde_path_to_error::Error<serde_norway::Error>) -> Self {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let location = inner
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        // The parser's message repeats the position; keep only the explanation.
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        let message = message
            .strip_prefix(&format!("{key}: "))
            .unwrap_or(message)
            .to_owned();
        if key == "." || key.is_empty() {
            return Self::Syntax {
                path: path.to_owned(),
                message: format!("{message}{location}"),
            };
        }
        let message = match expected_for(&key) {
            Some(hint) if !message.contains("expected") => format!("{message}; expected {hint}"),
            _ => message,
        };
        Self::Key {
            path: path.to_owned(),
            location,
            key,
            message,
        }
    }
}

/// What a key takes, for error messages whose parser did not say.
fn expected_for(key: &str) -> Option<&'static str> {
    let last = key.rsplit('.').next().unwrap_or(key);
    Some(match last {
        "bind" | "control_bind" | "webhook_bind" => {
            "an address and port such as \"127.0.0.1:29333\""
        }
        "url" => "a URL such as \"http://127.0.0.1:8008\"",
        "max_body_size" | "max_media_size" => "a size such as \"16 MiB\"",
        _ if key.starts_with("permissions.") => "one of block, relay, user, admin",
        _ => return None,
    })
}

fn default_media_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_hs_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(300)
}
fn default_max_media_size() -> ByteSize {
    ByteSize::mib(50)
}
fn default_as_id() -> String {
    "passerelle".to_owned()
}
fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 29333))
}
fn default_public_url() -> Url {
    Url::parse("http://127.0.0.1:29333").expect("constant URL parses")
}
fn default_bot_localpart() -> String {
    "passerelle".to_owned()
}
fn default_bot_displayname() -> String {
    "passerelle bridge".to_owned()
}
fn default_max_body_size() -> ByteSize {
    ByteSize::mib(16)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_true() -> bool {
    true
}
fn default_alias_prefix() -> String {
    "_passerelle_".to_owned()
}
fn default_db_path() -> PathBuf {
    PathBuf::from("passerelle.db")
}
fn default_db_connections() -> u32 {
    4
}
fn default_log_level() -> String {
    "info".to_owned()
}
fn default_test_ghost_template() -> String {
    "_test_{id}".to_owned()
}
fn default_xmpp_ghost_template() -> String {
    "_xmpp_{id}".to_owned()
}
fn default_xmpp_server() -> String {
    "127.0.0.1:5347".to_owned()
}
fn default_muc_nick() -> String {
    "Matrix".to_owned()
}
fn default_xmpp_max_message() -> ByteSize {
    ByteSize::kib(64)
}
fn default_sms_ghost_template() -> String {
    "_sms_{id}".to_owned()
}
fn default_sms_max_segments() -> usize {
    6
}
fn default_sms_rate_limit() -> f64 {
    10.0
}
fn default_sms_opt_out() -> Vec<String> {
    vec!["STOP".to_owned(), "ARRET".to_owned()]
}
fn default_sms_opt_in() -> Vec<String> {
    vec!["START".to_owned()]
}
fn default_twilio_api_url() -> Url {
    Url::parse("https://api.twilio.com").expect("constant URL parses")
}
fn default_smpp_enquire_link() -> Duration {
    Duration::from_secs(30)
}
fn default_smpp_response_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_smpp_reassembly_timeout() -> Duration {
    Duration::from_secs(3600)
}
fn default_sms_webhook_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 29444))
}
fn default_sms_webhook_url() -> Url {
    Url::parse("http://127.0.0.1:29444").expect("constant URL parses")
}
fn default_test_control_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 29555))
}

/// Durations written as `30s`, `5m`, `1h 30m`.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({e}); expected e.g. \"30s\", \"5m\" or \"1h 30m\""
            ))
        })
    }
}

#[cfg(test)]
mod tests;
