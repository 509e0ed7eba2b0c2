#!/usr/bin/env python3
"""A mail user's client for the integration tests, on the standard library's
smtplib and imaplib (what a person's mail program speaks).

  send  --smtp HOST:PORT --from ADDR --to ADDR [--to ADDR ...]
        Reads one RFC 5322 message from stdin and submits it; prints
        {"sent": true}.
  fetch --imap HOST:PORT --user NAME --password PW [--mailbox INBOX]
        Prints a JSON list of the folder's mail: {"uid", "flags", "raw"}
        (raw decoded as UTF-8 with replacement).
  folders --imap HOST:PORT --user NAME --password PW
        Prints the JSON list of the account's folders.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import re
import smtplib
import sys


def host_port(value: str) -> tuple[str, int]:
    """Parses ``HOST:PORT`` (argparse type)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def send(args: argparse.Namespace) -> None:
    raw = sys.stdin.buffer.read()
    with smtplib.SMTP(*args.smtp, timeout=30) as smtp:
        smtp.sendmail(args.sender, args.to, raw)
    print(json.dumps({"sent": True}))


def login(args: argparse.Namespace) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(*args.imap, timeout=30)
    imap.login(args.user, args.password)
    return imap


def fetch(args: argparse.Namespace) -> None:
    imap = login(args)
    try:
        imap.select(args.mailbox, readonly=True)
        _, data = imap.uid("SEARCH", None, "ALL")
        out = []
        for uid in data[0].split():
            _, parts = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            meta, raw = parts[0][0].decode(), parts[0][1]
            flags = re.search(r"FLAGS \(([^)]*)\)", meta)
            out.append({
                "uid": int(uid),
                "flags": flags.group(1).split() if flags else [],
                "raw": raw.decode("utf-8", "replace"),
            })
        print(json.dumps(out))
    finally:
        imap.logout()


def folders(args: argparse.Namespace) -> None:
    imap = login(args)
    try:
        _, data = imap.list()
        names = [line.decode().rsplit(" ", 1)[-1].strip('"') for line in data if line]
        print(json.dumps(names))
    finally:
        imap.logout()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    p.add_argument("--smtp", type=host_port, required=True)
    p.add_argument("--from", dest="sender", required=True)
    p.add_argument("--to", action="append", required=True)
    p.set_defaults(run=send)
    for name, run in (("fetch", fetch), ("folders", folders)):
        p = sub.add_parser(name)
        p.add_argument("--imap", type=host_port, required=True)
        p.add_argument("--user", required=True)
        p.add_argument("--password", required=True)
        if name == "fetch":
            p.add_argument("--mailbox", default="INBOX")
        p.set_defaults(run=run)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
