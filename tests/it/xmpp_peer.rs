//! A real XMPP client (slixmpp, `scripts/peers/xmpp_client.py`) driven through JSON lines.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc::{Receiver, RecvTimeoutError, channel},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::harness::repo;

/// One XMPP account, logged in on the test Prosody.
pub(crate) struct XmppUser {
    child: Child,
    stdin: ChildStdin,
    events: Receiver<Value>,
    /// Everything received so far, oldest first.
    pub(crate) seen: Vec<Value>,
    /// The account's bare JID.
    pub(crate) jid: String,
}

/// The test Prosody's settings, as `scripts/test.sh` exported them.
pub(crate) fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test.sh"))
}

impl XmppUser {
    /// Logs `user` (with password `<user>pw`) in and waits until the session is ready.
    pub(crate) fn login(user: &str) -> Self {
        let python = format!("{}/bin/python", env("HELPERS_VENV"));
        let domain = env("PASSERELLE_IT_XMPP_HOST");
        let jid = format!("{user}@{domain}");
        let mut child = Command::new(python)
            .arg(repo().join("scripts/peers/xmpp_client.py"))
            .args([
                "--jid",
                &jid,
                "--password",
                &format!("{user}pw"),
                "--server",
            ])
            .arg(format!("127.0.0.1:{}", env("PROSODY_C2S_PORT")))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the XMPP client");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && tx.send(v).is_err()
                {
                    break;
                }
            }
        });
        let mut me = Self {
            child,
            stdin,
            events,
            seen: Vec::new(),
            jid,
        };
        me.wait_event("the XMPP session", Duration::from_secs(20), |e| {
            e["event"] == "ready"
        });
        me
    }

    /// Sends one command.
    pub(crate) fn cmd(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin
            .write_all(line.as_bytes())
            .expect("XMPP client alive");
        self.stdin.flush().expect("flush");
    }

    /// Sends a chat message; returns its id.
    pub(crate) fn send(&mut self, to: &str, body: &str) -> String {
        let id = format!("x{}", crate::harness::unique());
        self.cmd(json!({"cmd": "send", "to": to, "body": body, "id": id}));
        id
    }

    /// Takes in whatever events have arrived, without waiting.
    pub(crate) fn drain(&mut self) {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
    }

    /// Waits for an event matching `pred`, among those already seen or new ones.
    pub(crate) fn wait_event(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) => {
                    self.seen.push(e.clone());
                    if pred(&e) {
                        return e;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "timed out after {timeout:?} waiting for {what}; seen: {:#?}",
                    self.seen
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the XMPP client exited while waiting for {what}; seen: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Waits for a chat message with this body.
    pub(crate) fn wait_body(&mut self, body: &str) -> Value {
        self.wait_event(
            &format!("a message {body:?}"),
            Duration::from_secs(30),
            |e| e["event"] == "message" && e["body"] == body,
        )
    }
}

impl Drop for XmppUser {
    fn drop(&mut self) {
        let _ = self.stdin.write_all(b"{\"cmd\": \"quit\"}\n");
        std::thread::sleep(Duration::from_millis(50));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The JID a Matrix user speaks from.
pub(crate) fn jid_of(user_id: &str) -> String {
    let (local, server) = user_id
        .trim_start_matches('@')
        .split_once(':')
        .expect("user id");
    format!("{local}={server}@{}", env("PASSERELLE_IT_XMPP_DOMAIN"))
}

/// The ghost of an XMPP account.
pub(crate) fn ghost_of(jid: &str) -> String {
    format!(
        "@_xmpp_{}:{}",
        jid.replace('@', "=40"),
        crate::harness::base_config().homeserver.server_name
    )
}
