//! Test fixtures: the passerelle process, a Matrix user, and the test network's control API.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use passerelle::config::Config;
use serde_json::{Value, json};

/// Tests share the appservice port: one passerelle at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the lock that serialises tests, surviving a panicked test.
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The base configuration written by `scripts/test.sh`.
pub(crate) fn base_config_path() -> PathBuf {
    let path = std::env::var("PASSERELLE_IT_CONFIG").unwrap_or_else(|_| {
        panic!("PASSERELLE_IT_CONFIG is not set: run the integration tests with scripts/test.sh, which starts Synapse")
    });
    PathBuf::from(path)
}

/// The base configuration, parsed.
pub(crate) fn base_config() -> Config {
    Config::load(&base_config_path()).expect("the base config written by scripts/test.sh loads")
}

/// Where the repository's scripts are.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The passerelle binary the tests run: `PASSERELLE_IT_BIN` if set (a release build for the
/// benchmarks, without building the tests optimised), else the one cargo built with them.
pub(crate) fn passerelle_bin() -> PathBuf {
    std::env::var_os("PASSERELLE_IT_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_passerelle")),
        |bin| repo().join(bin),
    )
}

/// Runs `scripts/peers/<script>` with `args` and extra `env`; panics if it fails.
pub(crate) fn peer_script(script: &str, args: &[&str], env: &[(&str, &str)]) {
    let status = Command::new("bash")
        .arg(repo().join("scripts/peers").join(script))
        .args(args)
        .envs(env.iter().copied())
        .status()
        .expect("peer script runs");
    assert!(status.success(), "{script} failed");
}

/// Brings back a peer a test stopped, when dropped, even if the test fails half-way: runs
/// `scripts/peers/<script>` (e.g. `restart-synapse.sh`, `start-kannel.sh`).
pub(crate) struct PeerBack(pub(crate) &'static str);

impl Drop for PeerBack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Best effort: a second panic while unwinding would abort the test binary.
            let _ = Command::new("bash")
                .arg(repo().join("scripts/peers").join(self.0))
                .status();
        } else {
            peer_script(self.0, &[], &[]);
        }
    }
}

/// A blocking HTTP client for the tests.
pub(crate) fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub(crate) fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running passerelle, killed when dropped.
pub(crate) struct Passerelle {
    child: Option<Child>,
    /// Its working directory (database, record file, log).
    pub(crate) dir: PathBuf,
    /// Extra environment given at start, reused on restart.
    env: Vec<(String, String)>,
    /// The configuration file.
    pub(crate) config_path: PathBuf,
}

impl Passerelle {
    /// Starts passerelle with the base config, a fresh database in `target/it/<name>`, and
    /// `env` as extra environment overrides. Waits for `/health`.
    pub(crate) fn start(name: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with_config(name, base_config_path(), env)
    }

    /// Like [`Passerelle::start`], with another configuration file.
    pub(crate) fn start_with_config(
        name: &str,
        config_path: PathBuf,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = repo().join("target/it").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test dir");
        let mut all_env: Vec<(String, String)> = vec![
            (
                "PASSERELLE_DATABASE__PATH".into(),
                dir.join("passerelle.db").display().to_string(),
            ),
            (
                "PASSERELLE_CONNECTORS__0__RECORD_PATH".into(),
                dir.join("sent.jsonl").display().to_string(),
            ),
        ];
        all_env.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let mut p = Self {
            child: None,
            dir,
            env: all_env,
            config_path,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("passerelle.log"))
            .expect("log file");
        let child = Command::new(passerelle_bin())
            .args(["run", "-c"])
            .arg(&self.config_path)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PASSERELLE_LOG", "passerelle=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone().expect("log"))
            .spawn()
            .expect("spawn passerelle");
        self.child = Some(child);
        let url = format!("{}/health", self.url());
        wait_for("passerelle /health", Duration::from_secs(30), || {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("passerelle exited early ({status}); log:\n{}", self.log());
            }
            http()
                .get(&url)
                .send()
                .ok()
                .filter(|r| r.status().is_success())
        });
    }

    /// The appservice base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", base_config().appservice.bind)
    }

    /// Waits until passerelle reached the homeserver (`/ready`).
    pub(crate) fn wait_ready(&self, timeout: Duration) {
        let url = format!("{}/ready", self.url());
        wait_for("passerelle /ready", timeout, || {
            http()
                .get(&url)
                .send()
                .ok()
                .filter(|r| r.status().is_success())
        });
    }

    /// SIGKILL, no chance to clean up.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same database.
    pub(crate) fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub(crate) fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let pid = c.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = c.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("passerelle.log")).unwrap_or_default()
    }

    /// Messages the test network recorded (durable across restarts).
    pub(crate) fn sent(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("sent.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Typing notifications and read receipts the test network received.
    pub(crate) fn signals(&self) -> Vec<Value> {
        let control = format!("http://{}", control_bind());
        http()
            .get(format!("{control}/signals"))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default()
    }

    /// Plays a remote contact sending a message.
    pub(crate) fn inject(&self, from: &str, text: &str, id: &str) {
        let control = format!("http://{}", control_bind());
        let resp = http()
            .post(format!("{control}/inbound"))
            .json(
                &json!({"from": from, "text": text, "id": id, "name": format!("{from} (remote)")}),
            )
            .send()
            .expect("control API reachable");
        assert!(
            resp.status().is_success(),
            "inject failed: {}",
            resp.text().unwrap_or_default()
        );
    }

    /// A raw request to the appservice API with the hs_token.
    pub(crate) fn put_transaction(
        &self,
        txn_id: &str,
        body: &Value,
    ) -> reqwest::blocking::Response {
        let token = base_config().appservice.hs_token.expose().to_owned();
        http()
            .put(format!(
                "{}/_matrix/app/v1/transactions/{txn_id}",
                self.url()
            ))
            .bearer_auth(token)
            .json(body)
            .send()
            .expect("appservice reachable")
    }
}

impl Drop for Passerelle {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The test connector's control address.
pub(crate) fn control_bind() -> String {
    match base_config().connectors.first() {
        Some(passerelle::config::ConnectorConfig::Test(t)) => t.control_bind.to_string(),
        _ => panic!("the base config must have a test connector first"),
    }
}

/// A real Matrix user on Synapse.
pub(crate) struct User {
    /// Full user id.
    pub(crate) user_id: String,
    token: String,
    hs: String,
}

impl User {
    /// Registers a fresh user (open registration on the test homeserver).
    pub(crate) fn register(prefix: &str) -> Self {
        let config = base_config();
        let hs = config
            .homeserver
            .url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let username = format!("{prefix}{}", std::process::id() as u64 * 1000 + unique());
        let resp: Value = http()
            .post(format!("{hs}/_matrix/client/v3/register"))
            .json(&json!({"username": username, "password": "pw-pw-pw", "auth": {"type": "m.login.dummy"}}))
            .send()
            .expect("synapse reachable")
            .json()
            .expect("json");
        let token = resp["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("register failed: {resp}"))
            .to_owned();
        Self {
            user_id: resp["user_id"].as_str().expect("user_id").to_owned(),
            token,
            hs,
        }
    }

    /// Registers `username`, or logs in if an earlier test already registered it.
    pub(crate) fn register_or_login(username: &str) -> Self {
        let config = base_config();
        let hs = config
            .homeserver
            .url
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let reg: Value = http()
            .post(format!("{hs}/_matrix/client/v3/register"))
            .json(&json!({"username": username, "password": "pw-pw-pw", "auth": {"type": "m.login.dummy"}}))
            .send()
            .expect("synapse reachable")
            .json()
            .expect("json");
        let resp = if reg.get("access_token").is_some() {
            reg
        } else {
            http()
                .post(format!("{hs}/_matrix/client/v3/login"))
                .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": username}, "password": "pw-pw-pw"}))
                .send()
                .expect("synapse reachable")
                .json()
                .expect("json")
        };
        let token = resp["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {resp}"))
            .to_owned();
        Self {
            user_id: resp["user_id"].as_str().expect("user_id").to_owned(),
            token,
            hs,
        }
    }

    /// The access token, for requests the helpers do not cover.
    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// A GET on the client-server API as this user.
    pub(crate) fn get_json(&self, path: &str) -> Value {
        self.get(path)
    }

    fn get(&self, path: &str) -> Value {
        http()
            .get(format!("{}{path}", self.hs))
            .bearer_auth(&self.token)
            .send()
            .expect("get")
            .json()
            .expect("json")
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        http()
            .post(format!("{}{path}", self.hs))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .expect("post")
            .json()
            .expect("json")
    }

    /// Creates a private room inviting `invite`; returns its id.
    pub(crate) fn create_room(&self, invite: &[&str], is_direct: bool) -> String {
        let resp = self.post(
            "/_matrix/client/v3/createRoom",
            &json!({"invite": invite, "is_direct": is_direct, "preset": "private_chat"}),
        );
        resp["room_id"]
            .as_str()
            .unwrap_or_else(|| panic!("createRoom failed: {resp}"))
            .to_owned()
    }

    /// The bodies of the notices `sender` posted in `room` in reply to `event`.
    pub(crate) fn notices_about(&self, room: &str, sender: &str, event: &str) -> Vec<String> {
        self.messages(room)
            .into_iter()
            .filter(|m| {
                m["sender"] == sender
                    && m["content"]["msgtype"] == "m.notice"
                    && m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event
            })
            .filter_map(|m| m["content"]["body"].as_str().map(str::to_owned))
            .collect()
    }

    /// Opens a direct chat with `ghost` and waits until it has joined; returns the room id.
    pub(crate) fn direct_chat(&self, ghost: &str) -> String {
        let room = self.create_room(&[ghost], true);
        wait_for("the ghost to join", Duration::from_secs(60), || {
            self.members(&room).iter().any(|m| m == ghost).then_some(())
        });
        room
    }

    /// Creates a private room with a local alias `#<alias>:<server>`, inviting `invite`.
    pub(crate) fn create_room_with_alias(&self, alias: &str, invite: &[&str]) -> String {
        let resp = self.post(
            "/_matrix/client/v3/createRoom",
            &json!({"invite": invite, "room_alias_name": alias, "preset": "private_chat", "name": "Inbox"}),
        );
        resp["room_id"]
            .as_str()
            .unwrap_or_else(|| panic!("createRoom failed: {resp}"))
            .to_owned()
    }

    /// Creates a public room inviting `invite`.
    pub(crate) fn create_public_room(&self, invite: &[&str]) -> String {
        let resp = self.post(
            "/_matrix/client/v3/createRoom",
            &json!({"invite": invite, "preset": "public_chat"}),
        );
        resp["room_id"]
            .as_str()
            .unwrap_or_else(|| panic!("createRoom failed: {resp}"))
            .to_owned()
    }

    /// Upgrades a room; returns the replacement room id.
    pub(crate) fn upgrade(&self, room: &str) -> String {
        let resp = self.post(
            &format!("/_matrix/client/v3/rooms/{}/upgrade", enc(room)),
            &json!({"new_version": "12"}),
        );
        resp["replacement_room"]
            .as_str()
            .unwrap_or_else(|| panic!("upgrade failed: {resp}"))
            .to_owned()
    }

    /// Joins a room.
    pub(crate) fn join(&self, room: &str) {
        let resp = self.post(
            &format!("/_matrix/client/v3/join/{}", enc(room)),
            &json!({}),
        );
        assert!(resp.get("room_id").is_some(), "join failed: {resp}");
    }

    /// Sends a text message; returns the event id.
    pub(crate) fn send_text(&self, room: &str, text: &str) -> String {
        let txn = format!("t{}", unique());
        let resp: Value = http()
            .put(format!(
                "{}/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}",
                self.hs,
                enc(room)
            ))
            .bearer_auth(&self.token)
            .json(&json!({"msgtype": "m.text", "body": text}))
            .send()
            .expect("send")
            .json()
            .expect("json");
        resp["event_id"]
            .as_str()
            .unwrap_or_else(|| panic!("send failed: {resp}"))
            .to_owned()
    }

    /// Sends any message-like event; returns its id.
    pub(crate) fn send_event(&self, room: &str, event_type: &str, content: &Value) -> String {
        let txn = format!("e{}", unique());
        let resp: Value = http()
            .put(format!(
                "{}/_matrix/client/v3/rooms/{}/send/{event_type}/{txn}",
                self.hs,
                enc(room)
            ))
            .bearer_auth(&self.token)
            .json(content)
            .send()
            .expect("send")
            .json()
            .expect("json");
        resp["event_id"]
            .as_str()
            .unwrap_or_else(|| panic!("send failed: {resp}"))
            .to_owned()
    }

    /// Redacts an event.
    pub(crate) fn redact(&self, room: &str, event_id: &str) {
        let txn = format!("r{}", unique());
        let resp: Value = http()
            .put(format!(
                "{}/_matrix/client/v3/rooms/{}/redact/{}/{txn}",
                self.hs,
                enc(room),
                enc(event_id)
            ))
            .bearer_auth(&self.token)
            .json(&json!({}))
            .send()
            .expect("redact")
            .json()
            .expect("json");
        assert!(resp.get("event_id").is_some(), "redact failed: {resp}");
    }

    /// Every timeline event of the room (up to 200), oldest first.
    pub(crate) fn events(&self, room: &str) -> Vec<Value> {
        let resp = self.get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=200",
            enc(room)
        ));
        let mut events = resp["chunk"].as_array().cloned().unwrap_or_default();
        events.reverse();
        events
    }

    /// The room's current ephemeral events (typing, receipts), from a fresh sync.
    pub(crate) fn ephemeral(&self, room: &str) -> Vec<Value> {
        let filter = json!({"room": {"timeline": {"limit": 1}}, "account_data": {"not_types": [format!("x.{}", unique())]}});
        let resp = self.get(&format!(
            "/_matrix/client/v3/sync?timeout=0&filter={}",
            enc(&filter.to_string())
        ));
        resp["rooms"]["join"][room]["ephemeral"]["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Uploads a file; returns its `mxc://` URI.
    pub(crate) fn upload(&self, data: Vec<u8>, content_type: &str) -> String {
        let resp: Value = http()
            .post(format!("{}/_matrix/media/v3/upload", self.hs))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(data)
            .send()
            .expect("upload")
            .json()
            .expect("json");
        resp["content_uri"]
            .as_str()
            .unwrap_or_else(|| panic!("upload failed: {resp}"))
            .to_owned()
    }

    /// Sends an `m.file` message.
    pub(crate) fn send_file(&self, room: &str, mxc: &str, filename: &str, size: usize) -> String {
        let txn = format!("f{}", unique());
        let resp: Value = http()
            .put(format!("{}/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", self.hs, enc(room)))
            .bearer_auth(&self.token)
            .json(&json!({"msgtype": "m.file", "body": filename, "url": mxc, "info": {"size": size, "mimetype": "application/pdf"}}))
            .send()
            .expect("send")
            .json()
            .expect("json");
        resp["event_id"]
            .as_str()
            .unwrap_or_else(|| panic!("send failed: {resp}"))
            .to_owned()
    }

    /// Starts or stops typing in a room.
    pub(crate) fn typing(&self, room: &str, typing: bool) {
        let resp = http()
            .put(format!(
                "{}/_matrix/client/v3/rooms/{}/typing/{}",
                self.hs,
                enc(room),
                enc(&self.user_id)
            ))
            .bearer_auth(&self.token)
            .json(&json!({"typing": typing, "timeout": 10000}))
            .send()
            .expect("typing");
        assert!(resp.status().is_success());
    }

    /// Sends a public read receipt for an event.
    pub(crate) fn read(&self, room: &str, event_id: &str) {
        let resp = self.post(
            &format!(
                "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
                enc(room),
                enc(event_id)
            ),
            &json!({}),
        );
        assert!(resp.get("errcode").is_none(), "receipt failed: {resp}");
    }

    /// Rooms the user has joined.
    pub(crate) fn joined_rooms(&self) -> Vec<String> {
        let resp = self.get("/_matrix/client/v3/joined_rooms");
        resp["joined_rooms"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect()
    }

    /// The room's joined members.
    pub(crate) fn members(&self, room: &str) -> Vec<String> {
        let resp = self.get(&format!(
            "/_matrix/client/v3/rooms/{}/joined_members",
            enc(room)
        ));
        resp["joined"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The room's message events, oldest first.
    pub(crate) fn messages(&self, room: &str) -> Vec<Value> {
        let resp = self.get(&format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit=100",
            enc(room)
        ));
        let mut events: Vec<Value> = resp["chunk"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["type"] == "m.room.message")
            .collect();
        events.reverse();
        events
    }

    /// Rooms the user is invited to.
    pub(crate) fn invites(&self) -> Vec<String> {
        // Synapse caches an empty sync answer for a while: make every request distinct.
        let filter = json!({"room": {"timeline": {"limit": 1}}, "account_data": {"not_types": [format!("x.{}", unique())]}});
        let resp = self.get(&format!(
            "/_matrix/client/v3/sync?timeout=0&filter={}",
            enc(&filter.to_string())
        ));
        resp["rooms"]["invite"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A user's display name, as anyone sees it.
    pub(crate) fn display_name(&self, user: &str) -> Option<String> {
        let resp = self.get(&format!("/_matrix/client/v3/profile/{}", enc(user)));
        resp["displayname"].as_str().map(str::to_owned)
    }
}

/// The environment override of `key` (e.g. `INBOUND__INVITE`) of the base config's connector of
/// type `kind`, wherever it sits in the list.
pub(crate) fn connector_key(kind: &str, key: &str) -> String {
    let index = base_config()
        .connectors
        .iter()
        .position(|c| c.kind() == kind)
        .unwrap_or_else(|| panic!("the base config has no {kind} connector"));
    format!("PASSERELLE_CONNECTORS__{index}__{key}")
}

/// Percent-encodes a path segment.
pub(crate) fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A number unique within this test process.
pub(crate) fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The ghost user id of a test contact.
pub(crate) fn ghost(contact: &str) -> String {
    format!("@_test_{contact}:{}", base_config().homeserver.server_name)
}

/// The body texts of a room's messages sent by `sender`.
pub(crate) fn bodies_from(messages: &[Value], sender: &str) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["sender"] == sender)
        .filter_map(|m| m["content"]["body"].as_str().map(str::to_owned))
        .collect()
}
