#!/usr/bin/env python3
"""Self-test of the mail test peers, run by mail_selftest.sh.

Against a running dovecot (IMAP + LMTP) and smtp_sink.py, proves with the
standard library's smtplib / imaplib / mailbox that:

- a mail sent to the sink for alice@localhost (and an unknown user, whose
  LMTP rejection the sink ignores) is answered 250, is in the sink's Maildir
  with its X-Envelope-From / X-Envelope-To headers, and is readable in
  alice's INBOX over IMAP;
- an LMTP delivery to bridge@localhost is UNSEEN in the bridge's INBOX, and
  the IMAP server advertises IDLE.

Prints one line per check and "N passed, N failed"; exits non-zero on a
failure.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import imaplib
import mailbox
import smtplib
import sys
import time
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path


class CheckFailed(Exception):
    """A check did not see what it expected."""


def host_port(value: str) -> tuple[str, int]:
    """Parses ``HOST:PORT`` (argparse type)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def make_message(sender: str, to: str, subject: str) -> EmailMessage:
    """A small text message with a unique Message-ID."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@selftest.localhost>"
    msg.set_content(f"{subject}: body\n")
    return msg


def poll(what: str, fn: Callable[[], bool], timeout: float = 5.0) -> None:
    """Calls fn every 50 ms until it returns True; CheckFailed after timeout."""
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: not seen after {timeout}s")
        time.sleep(0.05)


def imap_search(imap: tuple[str, int], user: str, password: str,
                criteria: str) -> tuple[list[bytes], list[bytes]]:
    """Logs in, selects INBOX, returns (capabilities, matching message numbers)."""
    with imaplib.IMAP4(imap[0], imap[1], timeout=10) as conn:
        conn.login(user, password)
        caps = list(conn.capabilities)
        typ, _ = conn.select("INBOX", readonly=True)
        if typ != "OK":
            raise CheckFailed(f"SELECT INBOX as {user}: {typ}")
        typ, data = conn.search(None, criteria)
        if typ != "OK":
            raise CheckFailed(f"SEARCH {criteria} as {user}: {typ}")
        return [c.encode() if isinstance(c, str) else c for c in caps], data[0].split()


def imap_fetch_header(imap: tuple[str, int], user: str, password: str,
                      message_id: str) -> email.message.Message:
    """The headers of the INBOX message with that Message-ID (read-only)."""
    with imaplib.IMAP4(imap[0], imap[1], timeout=10) as conn:
        conn.login(user, password)
        conn.select("INBOX", readonly=True)
        _, data = conn.search(None, "HEADER", "Message-ID", message_id)
        nums = data[0].split()
        if len(nums) != 1:
            raise CheckFailed(f"{user}: {len(nums)} messages with Message-ID {message_id}")
        _, parts = conn.fetch(nums[0], "(BODY.PEEK[HEADER])")
        raw = parts[0][1] if parts and isinstance(parts[0], tuple) else b""
        return email.message_from_bytes(raw, policy=email.policy.default)


def check_sink(smtp: tuple[str, int], imap: tuple[str, int], sink: Path) -> str:
    """Mail through the sink: stored with envelope headers, in alice's INBOX."""
    msg = make_message("bridge@localhost", "alice@localhost", "via sink")
    mid = msg["Message-ID"]
    rcpts = ["alice@localhost", "nobody@example.org"]
    t0 = time.monotonic()
    with smtplib.SMTP(smtp[0], smtp[1], timeout=10) as s:
        refused = s.send_message(msg, from_addr="bridge@localhost", to_addrs=rcpts)
    if refused:
        raise CheckFailed(f"sink refused {refused}")
    sent = time.monotonic() - t0

    box = mailbox.Maildir(sink, create=False)
    found = [m for m in box if m["Message-ID"] == mid]
    if len(found) != 1:
        raise CheckFailed(f"sink Maildir holds {len(found)} copies of {mid}")
    m = found[0]
    if m["X-Envelope-From"] != "bridge@localhost":
        raise CheckFailed(f"X-Envelope-From: {m['X-Envelope-From']!r}")
    if m["X-Envelope-To"] != ", ".join(rcpts):
        raise CheckFailed(f"X-Envelope-To: {m['X-Envelope-To']!r}")
    if m["Subject"] != "via sink":
        raise CheckFailed(f"Subject: {m['Subject']!r}")

    # The sink answers 250 after its LMTP relay, so no wait should be needed.
    poll("alice's copy over IMAP",
         lambda: bool(imap_search(imap, "alice", "alicepw", f'HEADER Message-ID "{mid}"')[1]))
    hdr = imap_fetch_header(imap, "alice", "alicepw", mid)
    if hdr["X-Envelope-To"] != ", ".join(rcpts):
        raise CheckFailed(f"alice's copy: X-Envelope-To {hdr['X-Envelope-To']!r}")
    if imap_search(imap, "bob", "bobpw", f'HEADER Message-ID "{mid}"')[1]:
        raise CheckFailed("bob received alice's mail")
    return f"smtp send {sent * 1000:.0f} ms, in sink Maildir and alice's INBOX"


def check_lmtp(lmtp: tuple[str, int], imap: tuple[str, int]) -> str:
    """LMTP delivery to bridge@localhost is UNSEEN; IMAP offers IDLE."""
    msg = make_message("alice@localhost", "bridge@localhost", "via lmtp")
    mid = msg["Message-ID"]
    t0 = time.monotonic()
    with smtplib.LMTP(lmtp[0], lmtp[1], timeout=10) as s:
        refused = s.send_message(msg, from_addr="alice@localhost", to_addrs=["bridge@localhost"])
    if refused:
        raise CheckFailed(f"LMTP refused {refused}")

    def unseen() -> bool:
        _, nums = imap_search(imap, "bridge", "bridgepw", f'UNSEEN HEADER Message-ID "{mid}"')
        return len(nums) == 1

    poll("bridge's UNSEEN copy", unseen)
    seen_after = time.monotonic() - t0
    caps, _ = imap_search(imap, "bridge", "bridgepw", "ALL")
    if b"IDLE" not in caps:
        raise CheckFailed(f"no IDLE in capabilities {caps}")
    return f"UNSEEN in bridge's INBOX after {seen_after * 1000:.0f} ms, IDLE advertised"


def check_bad_password(imap: tuple[str, int]) -> str:
    """A wrong password is refused (the passwd-file is really used)."""
    try:
        imap_search(imap, "alice", "wrong", "ALL")
    except imaplib.IMAP4.error:
        return "LOGIN with a wrong password refused"
    raise CheckFailed("LOGIN with a wrong password accepted")


def main() -> int:
    """Runs every check, prints a summary."""
    ap = argparse.ArgumentParser(description="Self-test of the mail test peers.")
    ap.add_argument("--smtp", type=host_port, required=True, help="sink HOST:PORT")
    ap.add_argument("--imap", type=host_port, required=True, help="dovecot IMAP HOST:PORT")
    ap.add_argument("--lmtp", type=host_port, required=True, help="dovecot LMTP HOST:PORT")
    ap.add_argument("--sink-maildir", type=Path, required=True, help="the sink's Maildir")
    args = ap.parse_args()

    checks: list[tuple[str, Callable[[], str]]] = [
        ("smtp sink -> maildir + imap", lambda: check_sink(args.smtp, args.imap, args.sink_maildir)),
        ("lmtp -> unseen, idle", lambda: check_lmtp(args.lmtp, args.imap)),
        ("imap auth", lambda: check_bad_password(args.imap)),
    ]
    passed = failed = 0
    for name, fn in checks:
        try:
            detail = fn()
        except (CheckFailed, OSError, smtplib.SMTPException, imaplib.IMAP4.error) as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
        else:
            passed += 1
            print(f"ok   {name}: {detail}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
