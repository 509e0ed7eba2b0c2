#!/usr/bin/env python3
"""A scripted round trip through passerelle's test network and XMPP, as its users would do it.

1. demo starts a direct chat with the ghost @_test_alice:localhost and says hello; the
   test network echoes it back.
2. A new remote contact, bob, writes first (through the test connector's control API);
   demo gets invited to a new portal room, joins it and reads bob's message.
3. With --xmpp-python: an XMPP user (alice@localhost, through scripts/peers/xmpp_client.py)
   signs in; demo starts a direct chat with her ghost @_xmpp_alice=40localhost:localhost and
   writes; alice's client receives it from demo=localhost@<component domain> and answers;
   the answer appears in the Matrix room from the ghost.

Run by scripts/demo.sh against the fresh state it sets up (bob must be new to passerelle).
Python 3 standard library only: the XMPP client runs in its own process (the helpers venv's
Python), driven through JSON lines on its stdin and stdout. Exits 1 with a message if a step
fails or times out; the XMPP client is always stopped.
"""

import argparse
import json
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


class Failed(Exception):
    pass


def ms(t0):
    return f"{(time.monotonic() - t0) * 1000:.0f} ms"


def step(text):
    print(text, flush=True)


class Client:
    def __init__(self, base, timeout):
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.token = None
        self.txn = 0

    def call(self, method, path, body=None, query=None, base=None):
        url = (base or self.base) + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token and base is None:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:500]
            raise Failed(f"{method} {url.split('?')[0]}: HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise Failed(f"{method} {url.split('?')[0]}: {e}") from None

    def wait(self, what, probe):
        """Calls probe() every 100 ms until it returns something truthy."""
        deadline = time.monotonic() + self.timeout
        while True:
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                raise Failed(f"timed out after {self.timeout:g} s waiting for {what}")
            time.sleep(0.1)

    def room(self, room_id):
        return "/_matrix/client/v3/rooms/" + urllib.parse.quote(room_id, safe="")

    def direct_chat(self, me, ghost, name):
        """Creates a direct chat inviting `ghost`, waits until it joins, and tells both steps."""
        t0 = time.monotonic()
        room = self.call("POST", "/_matrix/client/v3/createRoom", {
            "invite": [ghost],
            "is_direct": True,
            "preset": "trusted_private_chat",
            "name": name,
        })["room_id"]
        step(f"→ {me} creates a direct chat {room} and invites {ghost}")

        def joined():
            return ghost in self.call("GET", self.room(room) + "/joined_members").get("joined", {})
        self.wait(f"{ghost} to join {room}", joined)
        step(f"← {ghost} joined ({ms(t0)})")
        return room

    def send_text(self, room_id, text):
        self.txn += 1
        path = f"{self.room(room_id)}/send/m.room.message/demo-{time.time_ns()}-{self.txn}"
        return self.call("PUT", path, {"msgtype": "m.text", "body": text})["event_id"]

    def find_message(self, room_id, sender, body):
        chunk = self.call(
            "GET", self.room(room_id) + "/messages", query={"dir": "b", "limit": "20"}
        ).get("chunk", [])
        for ev in chunk:
            c = ev.get("content", {})
            if ev.get("type") == "m.room.message" and ev.get("sender") == sender and c.get("body") == body:
                return ev
        return None

    def sync_invites(self):
        # A filter that differs on every call: Synapse caches /sync answers per request.
        self.txn += 1
        flt = {"room": {"timeline": {"limit": 1}}, "presence": {"not_types": [f"demo.nonce.{time.time_ns()}.{self.txn}"]}}
        res = self.call("GET", "/_matrix/client/v3/sync", query={"timeout": "0", "filter": json.dumps(flt)})
        return res.get("rooms", {}).get("invite", {})


def ghost_escape(remote):
    """passerelle's ghost localpart escaping of a remote id (src/ids.rs)."""
    out = []
    for b in remote.encode():
        c = chr(b)
        if c in "abcdefghijklmnopqrstuvwxyz0123456789.-/+":
            out.append(c)
        elif "A" <= c <= "Z":
            out.append("_" + c.lower())
        elif c == "_":
            out.append("__")
        else:
            out.append(f"={b:02x}")
    return "".join(out)


def jid_node_escape(raw):
    """XEP-0106 escaping of a JID localpart (src/connectors/xmpp/addressing.rs)."""
    escapes = {"\\": "\\5c", " ": "\\20", '"': "\\22", "&": "\\26", "'": "\\27",
               "/": "\\2f", ":": "\\3a", "<": "\\3c", ">": "\\3e", "@": "\\40"}
    return "".join(escapes.get(c, c) for c in raw)


def bare(jid):
    return (jid or "").split("/", 1)[0]


class XmppUser:
    """An xmpp_client.py process: JSON commands on its stdin, JSON events from its stdout."""

    def __init__(self, python, script, jid, password, server, log_path, timeout):
        self.jid = jid
        self.timeout = timeout
        self.log_path = log_path
        self.events = queue.Queue()
        self.seen = []  # events that matched nothing, for failure messages
        self.ready = False  # it takes commands (quit included) only once signed in
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            # Its own session: a Ctrl-C reaches only this script, which then quits the client.
            self.proc = subprocess.Popen(
                [python, script, "--jid", jid, "--password", password, "--server", server, "-v"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, start_new_session=True,
            )
        except OSError as e:
            raise Failed(f"cannot start the XMPP client {script} with {python}: {e}") from None
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
                self.ready = self.ready or ev.get("event") == "ready"
                self.events.put(ev)
            except (ValueError, AttributeError):
                self.events.put({"event": "unparsable", "line": line.decode(errors="replace")[:300]})
        self.events.put(None)

    def where(self):
        return f" (client log: {self.log_path})" if self.log_path else ""

    def cmd(self, **cmd):
        try:
            self.proc.stdin.write((json.dumps(cmd, ensure_ascii=False) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            raise Failed(f"{self.jid}'s XMPP client does not take commands any more: {e}{self.where()}") from None

    def wait(self, what, pred):
        """Returns the first event for which pred() is true; fails on an error, a disconnection or
        after the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            try:
                ev = self.events.get(timeout=max(left, 0))
            except queue.Empty:
                others = "; ".join(self.summary(e) for e in self.seen[-5:]) or "none"
                raise Failed(f"timed out after {self.timeout:g} s waiting for {what}"
                             f" (other XMPP events: {others}){self.where()}") from None
            if ev is None:
                raise Failed(f"{self.jid}'s XMPP client exited (code {self.proc.wait()})"
                             f" while waiting for {what}{self.where()}")
            if pred(ev):
                return ev
            kind = ev.get("event")
            if kind in ("disconnected", "auth_failed", "error", "command_error"):
                raise Failed(f"while waiting for {what}, {self.jid}'s XMPP client reported:"
                             f" {self.summary(ev)}{self.where()}")
            self.seen.append(ev)

    @staticmethod
    def summary(ev):
        kind = ev.get("event")
        if kind == "error":
            return (f"error {ev.get('condition', '?')} ({ev.get('error_type', '?')}) from {ev.get('from', '?')}"
                    + (f": {ev['text']}" if ev.get("text") else ""))
        if kind == "disconnected":
            return "disconnected" + (f": {ev['reason']}" if ev.get("reason") else "")
        if kind == "auth_failed":
            return "authentication failed (wrong password?)"
        if kind == "command_error":
            return f"command {ev.get('cmd')} failed: {ev.get('error')}"
        if kind == "message":
            return f"message from {ev.get('from')}" + (f": {ev['body']!r}" if "body" in ev else "")
        return f"{kind} from {ev.get('from', '?')}"

    def stop(self):
        """Quits the client (closing its input), then terminates or kills it if it lingers."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(b'{"cmd": "quit"}\n')
                self.proc.stdin.close()
            except OSError:
                pass
            quit_grace = 5 if self.ready else 0
            for signal_it, grace in ((None, quit_grace), (self.proc.terminate, 3), (self.proc.kill, 3)):
                if signal_it:
                    signal_it()
                try:
                    self.proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue


def test_network(hs, args, me):
    sn = args.server_name
    alice = f"@_test_alice:{sn}"
    bob = f"@_test_bob:{sn}"

    # A direct chat with alice: passerelle's ghost joins it.
    room = hs.direct_chat(me, alice, "Alice (demo)")

    hello = "Hello Alice, this is a test"
    t0 = time.monotonic()
    hs.send_text(room, hello)
    step(f"→ {me} sends \"{hello}\" to {alice}")
    echo = f"echo: {hello}"
    hs.wait(f"\"{echo}\" from {alice}", lambda: hs.find_message(room, alice, echo))
    step(f"← {alice} answers \"{echo}\" ({ms(t0)})")

    # A new contact writes first: passerelle opens a portal room and invites demo.
    before = set(hs.sync_invites())
    text = "Hi, Bob here"
    t0 = time.monotonic()
    hs.call("POST", "/inbound", {"from": "bob", "name": "Bob", "text": text, "id": "demo-bob-1"},
            base=args.control)
    step(f"→ bob (a remote contact) writes \"{text}\" through the control API {args.control}/inbound")

    def new_invite():
        invites = hs.sync_invites()
        fresh = [r for r in invites if r not in before]
        for r in fresh:
            # Prefer the room bob's ghost invited us to.
            if any(ev.get("sender") == bob for ev in invites[r].get("invite_state", {}).get("events", [])):
                return r
        return fresh[0] if fresh else None
    bob_room = hs.wait(f"an invite for {me} to bob's portal room", new_invite)
    step(f"← {me} is invited to {bob_room} ({ms(t0)})")

    hs.call("POST", hs.room(bob_room) + "/join", {})
    step(f"→ {me} joins {bob_room}")
    hs.wait(f"\"{text}\" from {bob} in {bob_room}", lambda: hs.find_message(bob_room, bob, text))
    step(f"← {bob} says \"{text}\" ({ms(t0)} after it was sent)")


def xmpp(hs, args, me):
    contact = args.xmpp_jid
    ghost = f"@_xmpp_{ghost_escape(contact)}:{args.server_name}"
    me_jid = f"{jid_node_escape(f'{args.user}={args.server_name}')}@{args.xmpp_domain}"

    t_login = time.monotonic()
    user = XmppUser(args.xmpp_python, args.xmpp_client, contact, args.xmpp_password, args.xmpp_server,
                    args.xmpp_log, args.timeout)
    try:
        # The room and the XMPP sign-in go on at the same time.
        room = hs.direct_chat(me, ghost, "Alice (XMPP demo)")

        ready = user.wait(f"{contact} to sign in to the XMPP server {args.xmpp_server}",
                          lambda e: e.get("event") == "ready")
        step(f"✓ {contact} signed in to Prosody as {ready.get('jid', contact)} ({ms(t_login)} after starting)")

        hello = "Bonjour Alice, depuis Matrix"
        t0 = time.monotonic()
        hs.send_text(room, hello)
        step(f"→ {me} sends \"{hello}\" to {ghost}")
        got = user.wait(f"\"{hello}\" from {me_jid} at {contact}",
                        lambda e: e.get("event") == "message" and e.get("body") == hello)
        sender = bare(got.get("from"))
        if sender != me_jid:
            raise Failed(f"{contact} received \"{hello}\" from {got.get('from')}, not from {me_jid}")
        step(f"← {contact} receives \"{hello}\" from {sender} ({ms(t0)})")

        answer = "Bonjour demo, depuis XMPP"
        t0 = time.monotonic()
        user.cmd(cmd="send", to=me_jid, body=answer)
        step(f"→ {contact} answers \"{answer}\" to {me_jid}")
        # Bounces and errors from the XMPP side show up while waiting for the Matrix side.
        deadline = time.monotonic() + args.timeout
        while not hs.find_message(room, ghost, answer):
            try:
                ev = user.events.get_nowait()
            except queue.Empty:
                ev = {}
            if ev is None or ev.get("event") in ("disconnected", "error"):
                raise Failed(f"after sending \"{answer}\", {contact}'s XMPP client "
                             + ("exited" if ev is None else "reported: " + user.summary(ev)) + user.where())
            if time.monotonic() > deadline:
                raise Failed(f"timed out after {args.timeout:g} s waiting for \"{answer}\" from {ghost} in {room}")
            time.sleep(0.1)
        step(f"← {ghost} says \"{answer}\" in {room} ({ms(t0)})")
    finally:
        user.stop()


def email(hs, args, me):
    """Matrix → alice's mailbox (read with imaplib) → her answer by SMTP → the same room."""
    import email as email_lib
    import email.policy
    import imaplib
    import smtplib
    from email.message import EmailMessage

    contact = args.mail_contact
    ghost = f"@_email_{ghost_escape(contact)}:{args.server_name}"
    imap_host, imap_port = args.mail_imap.rsplit(":", 1)
    smtp_host, smtp_port = args.mail_smtp.rsplit(":", 1)

    room = hs.direct_chat(me, ghost, "Alice (email demo)")

    hello = f"Bonjour Alice, par email ({int(time.time())})"
    t0 = time.monotonic()
    hs.send_text(room, hello)
    step(f"→ {me} sends \"{hello}\" to {ghost}")

    def in_mailbox():
        imap = imaplib.IMAP4(imap_host, int(imap_port), timeout=10)
        try:
            imap.login(contact.split("@")[0], args.mail_password)
            imap.select("INBOX", readonly=True)
            _, data = imap.search(None, "ALL")
            for num in data[0].split():
                _, parts = imap.fetch(num, "(BODY.PEEK[])")
                msg = email_lib.message_from_bytes(parts[0][1], policy=email.policy.default)
                if msg["Subject"] == hello:
                    return msg
        finally:
            imap.logout()
        return None
    got = hs.wait(f"\"{hello}\" in {contact}'s mailbox", in_mailbox)
    step(f"← {contact} has the mail from {got['From']} ({ms(t0)})")

    answer = "Merci, bien reçu par email"
    reply = EmailMessage()
    reply["From"] = f"Alice <{contact}>"
    reply["To"] = got["From"]
    reply["Subject"] = f"Re: {hello}"
    reply["Message-ID"] = f"<demo-{int(time.time() * 1000)}@localhost>"
    reply["In-Reply-To"] = got["Message-ID"]
    reply["References"] = got["Message-ID"]
    reply.set_content(answer)
    t0 = time.monotonic()
    with smtplib.SMTP(smtp_host, int(smtp_port), timeout=10) as smtp:
        smtp.send_message(reply)
    step(f"→ {contact} answers \"{answer}\" by mail")
    hs.wait(f"\"{answer}\" from {ghost} in {room}", lambda: hs.find_message(room, ghost, answer))
    step(f"← {ghost} says \"{answer}\" in the mail's thread ({ms(t0)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--homeserver", default="http://127.0.0.1:8008")
    ap.add_argument("--control", default="http://127.0.0.1:29555", help="test connector control API")
    ap.add_argument("--server-name", default="localhost")
    ap.add_argument("--user", default="demo")
    ap.add_argument("--password", default="demo")
    ap.add_argument("--timeout", type=float, default=30, help="seconds per step")
    ma = ap.add_argument_group("Email (the email part runs only with --mail-imap)")
    ma.add_argument("--mail-imap", help="the IMAP server's HOST:PORT, e.g. 127.0.0.1:1143")
    ma.add_argument("--mail-smtp", default="127.0.0.1:2525", help="the SMTP server's HOST:PORT")
    ma.add_argument("--mail-contact", default="alice@localhost")
    ma.add_argument("--mail-password", default="alicepw")
    xa = ap.add_argument_group("XMPP (the XMPP part runs only with --xmpp-python)")
    xa.add_argument("--xmpp-python", help="a Python with slixmpp, e.g. target/peers/helpers/bin/python")
    xa.add_argument("--xmpp-client", default="scripts/peers/xmpp_client.py")
    xa.add_argument("--xmpp-server", default="127.0.0.1:5222", help="the XMPP server's c2s HOST:PORT")
    xa.add_argument("--xmpp-domain", default="matrix.localhost", help="passerelle's component domain")
    xa.add_argument("--xmpp-jid", default="alice@localhost")
    xa.add_argument("--xmpp-password", default="alicepw")
    xa.add_argument("--xmpp-log", help="file for the XMPP client's own log")
    args = ap.parse_args()

    hs = Client(args.homeserver, args.timeout)

    # Log in.
    t0 = time.monotonic()
    res = hs.call("POST", "/_matrix/client/v3/login", {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": args.user},
        "password": args.password,
        "initial_device_display_name": "passerelle demo",
    })
    hs.token = res["access_token"]
    me = res["user_id"]
    step(f"✓ logged in as {me} ({ms(t0)})")

    test_network(hs, args, me)
    if args.xmpp_python:
        xmpp(hs, args, me)
    if args.mail_imap:
        email(hs, args, me)
    step("✓ round trip complete")


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print(f"✗ round trip failed: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
