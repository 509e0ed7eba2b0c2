#!/usr/bin/env python3
"""A scripted round trip through passerelle's test network, as a Matrix user would do it.

1. demo starts a direct chat with the ghost @_test_alice:localhost and says hello; the
   test network echoes it back.
2. A new remote contact, bob, writes first (through the test connector's control API);
   demo gets invited to a new portal room, joins it and reads bob's message.

Run by scripts/demo.sh against the fresh state it sets up (bob must be new to passerelle).
Python 3 standard library only. Exits 1 with a message if a step fails or times out.
"""

import argparse
import json
import sys
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--homeserver", default="http://127.0.0.1:8008")
    ap.add_argument("--control", default="http://127.0.0.1:29555", help="test connector control API")
    ap.add_argument("--server-name", default="localhost")
    ap.add_argument("--user", default="demo")
    ap.add_argument("--password", default="demo")
    ap.add_argument("--timeout", type=float, default=30, help="seconds per step")
    args = ap.parse_args()

    hs = Client(args.homeserver, args.timeout)
    sn = args.server_name
    me = f"@{args.user}:{sn}"
    alice = f"@_test_alice:{sn}"
    bob = f"@_test_bob:{sn}"

    # Log in.
    t0 = time.monotonic()
    res = hs.call("POST", "/_matrix/client/v3/login", {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": args.user},
        "password": args.password,
        "initial_device_display_name": "passerelle demo",
    })
    hs.token = res["access_token"]
    step(f"✓ logged in as {res['user_id']} ({ms(t0)})")

    # A direct chat with alice: passerelle's ghost joins it.
    t0 = time.monotonic()
    room = hs.call("POST", "/_matrix/client/v3/createRoom", {
        "invite": [alice],
        "is_direct": True,
        "preset": "trusted_private_chat",
        "name": "Alice (demo)",
    })["room_id"]
    step(f"→ {me} creates a direct chat {room} and invites {alice}")

    def alice_joined():
        joined = hs.call("GET", hs.room(room) + "/joined_members").get("joined", {})
        return alice in joined
    hs.wait(f"{alice} to join {room}", alice_joined)
    step(f"← {alice} joined ({ms(t0)})")

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
    step("✓ round trip complete")


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print(f"✗ round trip failed: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
