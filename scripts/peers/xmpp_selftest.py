#!/usr/bin/env python3
"""Self-test of the XMPP test peers, run by xmpp_selftest.sh.

Drives two xmpp_client.py processes (alice, bob) against a running Prosody
and proves that every command of the client round-trips, then checks the
XEP-0114 component port with slixmpp's ComponentXMPP. Prints one line per
check and a closing "N passed, N failed"; exits non-zero on a failure. Each
client's commands and events are kept in LOG_DIR/client-NAME.jsonl, its
stderr in LOG_DIR/client-NAME.log.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from slixmpp import ComponentXMPP, Message

Json = dict[str, Any]
Pred = Callable[[Json], bool]

CLIENT = Path(__file__).with_name("xmpp_client.py")
ROOM = "room1@conference.localhost"


class CheckFailed(Exception):
    """A check did not see what it expected."""


class Peer:
    """An xmpp_client.py child process: commands in, events out."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, transcript: Path) -> None:
        self.name = name
        self.proc = proc
        self.transcript = open(transcript, "w", encoding="utf-8")
        self.events: list[Json] = []
        self.seen: list[Json] = []
        self.changed = asyncio.Condition()
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, name: str, jid: str, password: str, server: str, log_dir: Path, *extra: str) -> Peer:
        stderr = open(log_dir / f"client-{name}.log", "wb")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(CLIENT), "--jid", jid, "--password", password, "--server", server, "-v", *extra,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            limit=16 << 20,  # an event line holds a whole stanza
        )
        stderr.close()
        return cls(name, proc, log_dir / f"client-{name}.jsonl")

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.transcript.write(line.decode())
            self.transcript.flush()
            ev = json.loads(line)
            async with self.changed:
                self.events.append(ev)
                self.changed.notify_all()
        async with self.changed:
            self.events.append({"event": "eof"})
            self.changed.notify_all()

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        line = json.dumps(cmd, ensure_ascii=False)
        self.transcript.write(f"# {line}\n")
        self.proc.stdin.write((line + "\n").encode())

    async def expect(self, what: str, pred: Pred, timeout: float = 5) -> Json:
        """Waits for (and consumes) the first event matching ``pred``."""

        def find() -> Json | None:
            for i, ev in enumerate(self.events):
                if pred(ev):
                    self.seen.append(ev)
                    return self.events.pop(i)
            return None

        async with self.changed:
            try:
                return await asyncio.wait_for(self.changed.wait_for(find), timeout)  # type: ignore[arg-type]
            except asyncio.TimeoutError:
                pending = "\n  ".join(json.dumps(e, ensure_ascii=False)[:400] for e in self.events[-8:])
                raise CheckFailed(f"{self.name}: no {what} within {timeout}s; unconsumed events:\n  {pending}") from None

    async def message(self, what: str, *, frm: str | None = None, timeout: float = 5, **fields: Any) -> Json:
        """Waits for a message event whose fields equal ``fields`` (and
        whose sender is ``frm``)."""
        if frm is not None:
            fields["from"] = frm
        return await self.expect(
            what, lambda e: e["event"] == "message" and all(e.get(k) == v for k, v in fields.items()), timeout
        )

    async def stop(self) -> int:
        if self.proc.returncode is None:
            try:
                self.send(cmd="quit")
                await asyncio.wait_for(self.proc.wait(), 5)
            except (asyncio.TimeoutError, ConnectionError):
                self.proc.kill()
                await self.proc.wait()
        self.reader.cancel()
        self.transcript.close()
        return self.proc.returncode or 0


def check(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def disco_answer(jid: str) -> Pred:
    """Matches the disco (or error) event answering a disco of ``jid``."""
    return lambda e: e["event"] in ("disco", "error") and e.get("jid", e.get("from")) == jid


class Component(ComponentXMPP):
    """A minimal external component that records the messages it gets."""

    def __init__(self, domain: str, secret: str) -> None:
        super().__init__(domain, secret)
        self.register_plugin("xep_0030")
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.started = asyncio.Event()
        self.add_event_handler("session_start", lambda _: self.started.set())
        self.add_event_handler("message", self.inbox.put_nowait)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--c2s", required=True, help="HOST:PORT")
    ap.add_argument("--component", required=True, help="HOST:PORT")
    ap.add_argument("--domain", default="matrix.localhost")
    ap.add_argument("--secret", default="componentsecret")
    ap.add_argument("--log-dir", required=True)
    args = ap.parse_args()
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    c_host, _, c_port = args.component.rpartition(":")

    peers: dict[str, Peer] = {}
    results: list[tuple[str, bool]] = []
    ctx: Json = {}

    async def run(name: str, body: Callable[[], Awaitable[None]]) -> None:
        t0 = time.monotonic()
        try:
            await body()
        except Exception as exc:  # noqa: BLE001 - every failure is reported
            results.append((name, False))
            print(f"FAIL {name} ({(time.monotonic() - t0) * 1000:.0f} ms): {exc}", flush=True)
            return
        results.append((name, True))
        print(f"ok   {name} ({(time.monotonic() - t0) * 1000:.0f} ms)", flush=True)

    # ---- the checks ----

    async def login() -> None:
        for name in ("alice", "bob"):
            peers[name] = await Peer.start(name, f"{name}@localhost", f"{name}pw", args.c2s, log_dir)
        for name, peer in peers.items():
            ev = await peer.expect("ready", lambda e: e["event"] in ("ready", "disconnected", "auth_failed"), 15)
            check(ev["event"] == "ready", f"{name}: {ev}")
            ctx[name] = ev["jid"]

    async def send_rich() -> None:
        alice, bob = peers["alice"], peers["bob"]
        alice.send(cmd="send", to="bob@localhost", id="m1", body="> quoted\nhello bob",
                   reply_to={"id": "m0", "to": "bob@localhost"}, oob_url="http://127.0.0.1/cat.png",
                   html="<p>hello <b>bob</b></p>")
        ev = await bob.message("chat m1", id="m1")
        for k, v in {"type": "chat", "from": ctx["alice"], "body": "> quoted\nhello bob", "origin_id": "m1",
                     "reply": {"id": "m0", "to": "bob@localhost"}, "oob_url": "http://127.0.0.1/cat.png",
                     "html": "<p>hello <b>bob</b></p>", "receipt_request": True, "markable": True}.items():
            check(ev.get(k) == v, f"bob got {k}={ev.get(k)!r}, want {v!r}")
        check('<markable xmlns="urn:xmpp:chat-markers:0" />' in ev["xml"], "no <markable/> in xml")
        # bob's client answers the receipt request on its own.
        await alice.message("automatic receipt for m1", received="m1", frm=ctx["bob"])

    async def correct() -> None:
        peers["alice"].send(cmd="correct", to="bob@localhost", id="m1c", replace_id="m1", body="hello bob!")
        await peers["bob"].message("correction", id="m1c", replace_id="m1", body="hello bob!")

    async def react() -> None:
        peers["bob"].send(cmd="react", to="alice@localhost", id="m1", reactions=["👍", "🎉"])
        ev = await peers["alice"].expect("reactions", lambda e: "reactions" in e)
        check(ev["reactions"] == {"id": "m1", "emojis": ["👍", "🎉"]}, f"reactions {ev['reactions']}")
        peers["bob"].send(cmd="react", to="alice@localhost", id="m1", reactions=[])
        ev = await peers["alice"].expect("reaction removal", lambda e: "reactions" in e)
        check(ev["reactions"] == {"id": "m1", "emojis": []}, f"reactions {ev['reactions']}")

    async def retract() -> None:
        peers["alice"].send(cmd="retract", to="bob@localhost", id="m1")
        ev = await peers["bob"].message("retraction", retract_id="m1")
        check('<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:message-retract:1" />' in ev["xml"],
              f"no fallback element: {ev['xml']}")
        check(bool(ev.get("body")), "no fallback body")

    async def chatstates() -> None:
        for state in ("composing", "paused", "active"):
            peers["bob"].send(cmd="chatstate", to="alice@localhost", state=state)
            ev = await peers["alice"].message(f"chat state {state}", chatstate=state)
            check("body" not in ev, "chat state carries a body")

    async def displayed() -> None:
        peers["bob"].send(cmd="displayed", to="alice@localhost", id="m1")
        await peers["alice"].message("displayed marker", displayed="m1")

    async def received() -> None:
        peers["bob"].send(cmd="received", to=ctx["alice"], id="m1c")
        await peers["alice"].message("explicit receipt", received="m1c")

    async def raw() -> None:
        peers["alice"].send(cmd="raw", xml="<message to='bob@localhost' type='chat' id='raw1'><body>raw</body>"
                            "<custom xmlns='urn:example:passerelle'><deep a='1'>x &amp; y</deep></custom></message>")
        ev = await peers["bob"].message("raw stanza", id="raw1", body="raw")
        want = '<custom xmlns="urn:example:passerelle"><deep a="1">x &amp; y</deep></custom>'
        check(want in ev["xml"], f"custom payload altered: {ev['xml']}")

    async def offline_bounce() -> None:
        peers["alice"].send(cmd="send", to="carol@localhost", id="off1", body="carol is offline")
        ev = await peers["alice"].expect("bounce", lambda e: e["event"] == "error" and e.get("id") == "off1")
        check(ev.get("condition") == "service-unavailable", f"bounce {ev}")

    async def muc() -> None:
        alice, bob = peers["alice"], peers["bob"]
        alice.send(cmd="join", room=ROOM, nick="Alice")
        ev = await alice.expect("self presence", lambda e: e["event"] == "presence" and 110 in e.get("muc", {}).get("status_codes", []))
        check(ev["nick"] == "Alice" and ev["muc"]["affiliation"] == "owner", f"alice self presence {ev}")
        check(201 in ev["muc"]["status_codes"], "room not reported as new (201)")
        await alice.message("empty subject", subject="")
        bob.send(cmd="join", room=ROOM, nick="Bob")
        await bob.expect("occupant Alice", lambda e: e["event"] == "presence" and e.get("nick") == "Alice")
        await bob.expect("bob self presence", lambda e: e["event"] == "presence" and 110 in e.get("muc", {}).get("status_codes", []))
        await alice.expect("occupant Bob", lambda e: e["event"] == "presence" and e.get("from") == f"{ROOM}/Bob")
        alice.send(cmd="send", to=ROOM, type="groupchat", id="g1", body="hello room")
        got = [await p.message(f"{n} groupchat", type="groupchat", id="g1") for n, p in (("alice", alice), ("bob", bob))]
        for ev in got:
            check(ev["from"] == f"{ROOM}/Alice" and ev["body"] == "hello room", f"groupchat {ev}")
            check(bool(ev.get("stanza_id")) and ev.get("origin_id") == "g1", f"groupchat ids {ev}")
            check("receipt_request" not in ev and ev.get("markable") is True, f"groupchat hints {ev}")
        stanza_id = got[1]["stanza_id"]
        bob.send(cmd="react", to=ROOM, type="groupchat", id=stanza_id, reactions=["❤️"])
        ev = await alice.expect("groupchat reaction", lambda e: "reactions" in e)
        check(ev["reactions"] == {"id": stanza_id, "emojis": ["❤️"]} and ev["from"] == f"{ROOM}/Bob", f"{ev}")
        bob.send(cmd="chatstate", to=ROOM, type="groupchat", state="composing")
        await alice.message("groupchat chat state", chatstate="composing", frm=f"{ROOM}/Bob")
        alice.send(cmd="subject", room=ROOM, subject="Bridged room")
        for p in (alice, bob):
            await p.message("subject", subject="Bridged room", type="groupchat")
        bob.send(cmd="leave", room=ROOM)
        ev = await alice.expect("Bob left", lambda e: e["event"] == "presence" and e.get("from") == f"{ROOM}/Bob")
        check(ev.get("type") == "unavailable", f"leave {ev}")
        await bob.expect("own leave", lambda e: e["event"] == "presence" and e.get("type") == "unavailable")

    async def disco() -> None:
        alice = peers["alice"]
        for jid, category, kind in (("localhost", "server", "im"), ("conference.localhost", "conference", "text")):
            alice.send(cmd="disco", to=jid)
            ev = await alice.expect(f"disco {jid}", disco_answer(jid))
            check(ev["event"] == "disco", f"disco {jid}: {ev}")
            check({"category": category, "type": kind} in [{k: i[k] for k in ("category", "type")} for i in ev["identities"]],
                  f"{jid} identities {ev['identities']}")
            check("http://jabber.org/protocol/disco#info" in ev["features"], f"{jid} features {ev['features']}")

    async def component() -> None:
        comp = Component(args.domain, args.secret)
        ctx["component"] = comp
        t0 = time.monotonic()
        comp.connect(c_host, int(c_port))
        await asyncio.wait_for(comp.started.wait(), 5)
        ctx["handshake_ms"] = (time.monotonic() - t0) * 1000
        peers["alice"].send(cmd="send", to=f"someone@{args.domain}", id="c1", body="to the bridge")
        msg = await asyncio.wait_for(comp.inbox.get(), 5)
        check(msg["id"] == "c1" and msg["body"] == "to the bridge" and msg["from"] == ctx["alice"], f"component got {msg}")
        check(msg.xml.find("{urn:xmpp:receipts}request") is not None, "receipt request lost on the way")
        reply = comp.make_message(mto=msg["from"], mfrom=f"someone@{args.domain}/bridge", mbody="from the bridge", mtype="chat")
        reply["id"] = "c2"
        reply.send()
        await peers["alice"].message("ghost reply", id="c2", body="from the bridge", frm=f"someone@{args.domain}/bridge")
        peers["alice"].send(cmd="disco", to=args.domain)
        ev = await peers["alice"].expect("component disco", disco_answer(args.domain))
        check(ev["event"] == "disco", f"component disco {ev}")

    async def component_gone() -> None:
        comp: Component = ctx["component"]
        comp.disconnect(wait=1)
        await asyncio.wait_for(comp.disconnected, 5)
        peers["alice"].send(cmd="send", to=f"someone@{args.domain}", id="c3", body="anyone?")
        ev = await peers["alice"].expect("bounce", lambda e: e["event"] == "error" and e.get("id") == "c3")
        check(ev.get("condition") == "remote-server-timeout", f"bounce {ev}")

    async def quit_all() -> None:
        codes = {n: await p.stop() for n, p in peers.items()}
        for n, p in peers.items():
            check(any(e["event"] == "disconnected" for e in p.events), f"{n}: no disconnected event")
        check(all(c == 0 for c in codes.values()), f"exit codes {codes}")

    checks: list[tuple[str, Callable[[], Awaitable[None]]]] = [
        ("login alice + bob (ready)", login),
        ("send: body, reply, oob, html, receipt request + automatic receipt", send_rich),
        ("correct (XEP-0308)", correct),
        ("react and unreact (XEP-0444)", react),
        ("retract (XEP-0424) with fallback", retract),
        ("chat states (XEP-0085)", chatstates),
        ("displayed marker (XEP-0333)", displayed),
        ("received receipt (XEP-0184)", received),
        ("raw stanza with a custom payload", raw),
        ("chat to an offline user bounces", offline_bounce),
        ("MUC: join, groupchat, reaction, chat state, subject, leave", muc),
        ("disco#info localhost, conference.localhost", disco),
        ("component: handshake, chat in, ghost reply out, disco", component),
        ("component disconnected: chat bounces", component_gone),
        ("quit", quit_all),
    ]
    t_all = time.monotonic()
    try:
        for name, body in checks:
            await run(name, body)
            if not results[-1][1] and name.startswith("login"):
                break
    finally:
        for p in peers.values():
            await p.stop()
    if "handshake_ms" in ctx:
        print(f"component handshake in {ctx['handshake_ms']:.1f} ms")
    passed = sum(ok for _, ok in results)
    failed = len(results) - passed
    print(f"checks took {time.monotonic() - t_all:.2f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
