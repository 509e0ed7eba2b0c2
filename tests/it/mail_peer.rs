//! The mail side of the tests: correspondents send with smtplib and read with imaplib
//! (`scripts/peers/mail_client.py`), as a person's mail program would; passerelle reads its
//! own dovecot mailbox (`bridge<N>`, one per test, so each test starts with an empty one).

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::{harness::repo, xmpp_peer::env};

/// Environment overrides giving a passerelle mailbox `bridge<n>` and inviting `staff` to rooms
/// of new correspondents.
pub(crate) fn mailbox_env(n: u32, staff: &str) -> Vec<(String, String)> {
    let key = |k: &str| crate::harness::connector_key("email", k);
    vec![
        (key("ADDRESS"), format!("bridge{n}@localhost")),
        (key("IMAP__USERNAME"), format!("bridge{n}")),
        (key("IMAP__PASSWORD"), format!("bridge{n}pw")),
        (key("INBOUND__INVITE"), format!("[\"{staff}\"]")),
    ]
}

/// Borrowed form of [`mailbox_env`] for `Passerelle::start`.
pub(crate) fn as_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn client(args: &[&str], stdin: Option<&str>) -> Value {
    let python = format!("{}/bin/python", env("HELPERS_VENV"));
    let mut child = Command::new(python)
        .arg(repo().join("scripts/peers/mail_client.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the mail client");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write the mail");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("mail client");
    assert!(out.status.success(), "mail client {args:?} failed");
    serde_json::from_slice(&out.stdout).expect("mail client JSON")
}

/// Submits a raw mail (LF line ends are fine) through the SMTP server.
pub(crate) fn send_mail(from: &str, to: &[&str], raw: &str) {
    let smtp = format!("127.0.0.1:{}", env("MAIL_SMTP_PORT"));
    let mut args = vec!["send", "--smtp", &smtp, "--from", from];
    for t in to {
        args.extend(["--to", t]);
    }
    client(&args, Some(&raw.replace('\n', "\r\n")));
}

/// Every mail in `user`'s folder (password `<user>pw`): `{uid, flags, raw}`.
pub(crate) fn fetch(user: &str, mailbox: &str) -> Vec<Value> {
    let imap = format!("127.0.0.1:{}", env("MAIL_IMAP_PORT"));
    let password = format!("{user}pw");
    let v = client(
        &[
            "fetch",
            "--imap",
            &imap,
            "--user",
            user,
            "--password",
            &password,
            "--mailbox",
            mailbox,
        ],
        None,
    );
    v.as_array().cloned().unwrap_or_default()
}

/// The ghost of an address.
pub(crate) fn email_ghost(address: &str) -> String {
    format!(
        "@_email_{}:{}",
        address.replace('@', "=40"),
        crate::harness::base_config().homeserver.server_name
    )
}

/// A header of a raw mail (first occurrence, unfolded).
pub(crate) fn header(raw: &str, name: &str) -> Option<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    unfolded.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}
