#!/usr/bin/env python3
"""The phone side of the demo: plays the mobile operator behind the local Kannel.

It connects to Kannel's fake-SMSC port, the line protocol Kannel speaks to a test SMSC
(`<from> <to> <type> <payload>`, one SMS per line), so SMS that passerelle sends through
Kannel arrive here, and lines written here reach passerelle as SMS from a phone.

  roundtrip  (used by scripts/demo.sh) the Matrix user demo starts a direct chat with the
             ghost of --phone and writes; the SMS reaches this operator; the phone answers;
             the answer appears in the Matrix room. Exits 1 if a step fails.
  phone      interactive: prints every SMS sent to any number, and sends each line you type
             as an SMS from --phone to --org. Ctrl-D to quit.

Python 3 standard library only.
"""

import argparse
import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


class Failed(Exception):
    pass


def http(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return json.loads(raw) if raw.strip().startswith(b"{") or raw.strip().startswith(b"[") else raw
    except urllib.error.HTTPError as e:
        raise Failed(f"{method} {url.split('?')[0]}: HTTP {e.code}: {e.read()[:300]!r}") from None
    except (urllib.error.URLError, OSError) as e:
        raise Failed(f"{method} {url.split('?')[0]}: {e}") from None


def wait(what, probe, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class Operator:
    """The connection to bearerbox as its fake SMSC."""

    def __init__(self, smsc, admin):
        host, port = smsc.rsplit(":", 1)
        self.sock = wait("Kannel's fake SMSC port", lambda: self._connect(host, int(port)))
        status = f"http://{admin}/status.txt?password=adminpw"
        wait("Kannel to see the operator online", lambda: self._online(status))
        self.file = self.sock.makefile("rb")

    @staticmethod
    def _connect(host, port):
        try:
            return socket.create_connection((host, port), timeout=2)
        except OSError:
            return None

    @staticmethod
    def _online(url):
        try:
            text = urllib.request.urlopen(url, timeout=2).read().decode(errors="replace")
        except OSError:
            return False
        return any("fake" in line and "online" in line for line in text.splitlines())

    def read_sms(self, timeout=None):
        """The next SMS Kannel hands over: (from, to, text); parts of a long one are joined."""
        self.sock.settimeout(timeout)
        parts = {}
        while True:
            line = self.file.readline()
            if not line:
                raise Failed("Kannel closed the fake SMSC connection")
            fields = line.rstrip(b"\r\n").split(b" ", 5)
            sender, receiver, kind = (f.decode(errors="replace") for f in fields[:3])
            if kind == "text":
                return sender, receiver, b" ".join(fields[3:]).decode("latin-1")
            if kind == "ucs-2":
                raw = urllib.parse.unquote_to_bytes(fields[3].replace(b"+", b" "))
                return sender, receiver, raw.decode("utf-16-be", errors="replace")
            if kind == "udh":
                udh = urllib.parse.unquote_to_bytes(fields[3].replace(b"+", b" "))
                data = urllib.parse.unquote_to_bytes(fields[5].replace(b"+", b" "))
                parts[udh[5]] = data
                if len(parts) == udh[4]:
                    raw = b"".join(parts[n] for n in sorted(parts))
                    # Kannel sends UCS-2 parts as UTF-16BE; 7-bit ones as Latin-1.
                    text = raw.decode("utf-16-be", errors="replace") if b"\0" in raw else raw.decode("latin-1")
                    return sender, receiver, text

    def send_sms(self, sender, receiver, text):
        if all(32 <= ord(c) < 127 for c in text):
            line = f"{sender} {receiver} text {text}\n".encode()
        else:
            payload = urllib.parse.quote_plus(text.encode("utf-16-be"))
            line = f"{sender} {receiver} ucs2 {payload}\n".encode()
        self.sock.sendall(line)


def roundtrip(args, op):
    hs = args.homeserver.rstrip("/")
    login = http("POST", hs + "/_matrix/client/v3/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": args.user},
        "password": args.password})
    token = login["access_token"]
    ghost = f"@_sms_{args.phone}:{args.server_name}"
    room = http("POST", hs + "/_matrix/client/v3/createRoom",
                {"invite": [ghost], "is_direct": True, "preset": "trusted_private_chat"}, token)["room_id"]
    path = hs + "/_matrix/client/v3/rooms/" + urllib.parse.quote(room, safe="")
    wait(f"{ghost} to join", lambda: ghost in http("GET", path + "/joined_members", token=token)["joined"])
    print(f"demo started a direct chat with {ghost}", flush=True)
    text = "Bonjour ! Votre rendez-vous est confirmé pour demain 10h. 📅"
    http("PUT", path + f"/send/m.room.message/sms-demo-{time.time_ns()}",
         {"msgtype": "m.text", "body": text}, token)
    print(f"demo → SMS: {text}", flush=True)
    sender, receiver, got = op.read_sms(timeout=30)
    if receiver != args.phone or got != text:
        raise Failed(f"the operator got {got!r} for {receiver}, expected {text!r} for {args.phone}")
    print(f"the operator delivered it to {receiver} (from {sender})", flush=True)
    answer = "Merci, je serai là 👍"
    op.send_sms(args.phone, args.org, answer)
    print(f"{args.phone} → SMS: {answer}", flush=True)

    def answered():
        msgs = http("GET", path + "/messages?dir=b&limit=20", token=token)["chunk"]
        return any(m.get("sender") == ghost and m.get("content", {}).get("body") == answer for m in msgs)

    wait("the SMS answer in the Matrix room", answered)
    print(f"the answer is in demo's room, from {ghost}", flush=True)


def phone(args, op):
    def reader():
        while True:
            try:
                sender, receiver, text = op.read_sms()
            except (Failed, OSError) as e:
                print(f"[operator] {e}", flush=True)
                return
            print(f"[SMS to {receiver} from {sender}] {text}", flush=True)

    threading.Thread(target=reader, daemon=True).start()
    print(f"Type a line to send it as an SMS from {args.phone} to {args.org}; Ctrl-D to quit.", flush=True)
    for line in sys.stdin:
        line = line.rstrip("\n")
        if line:
            op.send_sms(args.phone, args.org, line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["roundtrip", "phone"])
    ap.add_argument("--smsc", default="127.0.0.1:10000", help="Kannel's fake-SMSC host:port")
    ap.add_argument("--admin", default="127.0.0.1:13000", help="Kannel's admin host:port")
    ap.add_argument("--phone", default="+33612345678", help="the phone number played here")
    ap.add_argument("--org", default="+33100000000", help="the organisation's number")
    ap.add_argument("--homeserver", default="http://127.0.0.1:8008")
    ap.add_argument("--server-name", default="localhost")
    ap.add_argument("--user", default="demo")
    ap.add_argument("--password", default="demo")
    args = ap.parse_args()
    try:
        op = Operator(args.smsc, args.admin)
        if args.mode == "roundtrip":
            roundtrip(args, op)
        else:
            phone(args, op)
    except Failed as e:
        print(f"SMS round trip failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
