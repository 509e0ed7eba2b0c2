#!/usr/bin/env python3
"""A scriptable XMPP client for end-to-end tests, driven through JSON lines.

Usage::

    xmpp_client.py --jid alice@localhost --password alicepw --server 127.0.0.1:5222
        [--no-auto-receipts] [--timeout SECONDS] [-v|-vv]

The client logs in over plain TCP (SASL PLAIN, no TLS), sends its presence,
fetches its roster and prints ``{"event": "ready", "jid": FULL_JID}`` (the
echo of its own presence may come first). ``--jid`` may carry a resource;
otherwise the server picks one.

Then it reads one JSON command per line on stdin and prints one JSON event
per line on stdout (each line flushed; logs go to stderr only). Commands
are handled strictly in order: the stanzas of a command are written to the
socket before the next command is read. Optional fields may be absent.

Commands:

* ``{"cmd": "send", "to", "body", "id", "type", "reply_to": {"id", "to"},
  "oob_url", "html", "receipt", "markable"}``: a message (type ``chat`` by
  default) with an XEP-0359 origin-id equal to its id, an XEP-0184 receipt
  request (``receipt``: default true except for groupchat), an XEP-0333
  ``<markable/>`` (``markable``: default true), an XEP-0461 reply, an
  XEP-0066 OOB URL and an XEP-0071 XHTML-IM body (``html`` is the content of
  the XHTML ``<body>``, or a whole ``<body xmlns='http://www.w3.org/1999/xhtml'>``).
* ``{"cmd": "correct", "to", "id", "replace_id", "body", "type"}``: XEP-0308.
* ``{"cmd": "react", "to", "id", "reactions": [...], "type"}``: XEP-0444,
  the full set of the sender's reactions to message ``id`` (empty: none).
* ``{"cmd": "retract", "to", "id", "type"}``: XEP-0424 (message-retract:1),
  with a fallback body marked by XEP-0428.
* ``{"cmd": "chatstate", "to", "state", "type"}``: XEP-0085 (active,
  composing, paused, inactive, gone).
* ``{"cmd": "displayed", "to", "id", "type"}``: XEP-0333 displayed marker.
* ``{"cmd": "received", "to", "id", "type"}``: XEP-0184 receipt.
* ``{"cmd": "join", "room", "nick", "password", "history"}``: XEP-0045 join
  (``history``: at most that many history messages); the outcome shows as
  presence events (status code 110 for our own). ``{"cmd": "leave", "room",
  "nick"}``; ``{"cmd": "subject", "room", "subject"}``.
* ``{"cmd": "presence", "to", "type", "show", "status"}``: any presence,
  e.g. ``"type": "subscribe"``.
* ``{"cmd": "raw", "xml"}``: writes the string to the stream unmodified.
* ``{"cmd": "disco", "to", "node"}``: disco#info; answered by a ``disco``
  event (or an ``error`` event).
* ``{"cmd": "quit"}`` (end of input does the same).

``id`` is the id of the stanza sent (a fresh one when absent) for send,
correct, chatstate, subject and presence, but names the target message for
react, retract, displayed and received, whose own stanzas get fresh ids
(``retraction_id`` sets the retraction's). A command that cannot be carried
out yields ``{"event": "command_error", "cmd", "error"}``.

Events (fields only when present, ``xml`` always: the stanza as serialised
by slixmpp inside the stream, i.e. without the ``jabber:client`` xmlns):

* ``message``: ``from, to, type, id, body, subject, thread, origin_id,
  stanza_id, replace_id, reactions: {id, emojis}, retract_id, reply: {id,
  to}, chatstate, displayed, received, receipt_request, markable, oob_url,
  html, delay, xml``. ``type`` is the attribute as sent (absent when the
  stanza has none). ``stanza_id`` prefers the one added by the room (for
  groupchat) or by our own server.
* ``presence``: ``from, to, type, show, status, priority, nick, muc:
  {affiliation, role, jid, nick, status_codes}, xml``. ``nick`` is the
  XEP-0172 nick, else the occupant nick of a MUC presence.
* ``error``: an error stanza, or an error answer to ``disco``: ``stanza,
  from, to, id, error_type, condition, text, xml``.
* ``disco``: ``jid, node, identities: [{category, type, name, lang}],
  features: [...], xml``.
* ``command_error``: ``cmd, error``.
* ``disconnected`` (``reason``), after which the process exits: 0 after
  ``quit``, 1 otherwise. ``auth_failed`` precedes it on a bad password.

One event is one line, however large the stanza (Prosody accepts up to
256 KiB from a client and 512 KiB from a component): readers must not cap
line length at 64 KiB.

Receipt requests in chat/normal/headline messages are answered
automatically (``--no-auto-receipts`` turns that off); nothing else is
automatic: invitations are not accepted and no room is joined.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, Literal, cast
from xml.etree.ElementTree import Element

from slixmpp import JID, ClientXMPP, Iq, Message, Presence
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream import ET, StanzaBase, tostring
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

log = logging.getLogger("xmpp_client")

Json = dict[str, Any]
MessageType = Literal["chat", "error", "groupchat", "headline", "normal"]
MESSAGE_TYPES = ("chat", "error", "groupchat", "headline", "normal")

# Namespaces read from incoming stanzas.
NS_CLIENT = "jabber:client"
NS_SID = "urn:xmpp:sid:0"
NS_CORRECT = "urn:xmpp:message-correct:0"
NS_REACTIONS = "urn:xmpp:reactions:0"
NS_RETRACT = "urn:xmpp:message-retract:1"
NS_REPLY = "urn:xmpp:reply:0"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_MARKERS = "urn:xmpp:chat-markers:0"
NS_RECEIPTS = "urn:xmpp:receipts"
NS_OOB = "jabber:x:oob"
NS_XHTML_IM = "http://jabber.org/protocol/xhtml-im"
NS_XHTML = "http://www.w3.org/1999/xhtml"
NS_DELAY = "urn:xmpp:delay"
NS_NICK = "http://jabber.org/protocol/nick"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"

CHAT_STATES = ("active", "composing", "paused", "inactive", "gone")
RETRACT_FALLBACK = "This person attempted to retract a previous message, but your client does not support it."


def emit(event: Json) -> None:
    """Writes one event as a JSON line on stdout; exits if nobody reads it."""
    try:
        sys.stdout.write(json.dumps(event, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        os._exit(1)


def q(ns: str, name: str) -> str:
    """Clark notation of a qualified name."""
    return f"{{{ns}}}{name}"


def put(out: Json, key: str, value: Any) -> None:
    """Sets ``out[key]`` unless the value is absent (None)."""
    if value is not None:
        out[key] = value


def child_attr(xml: Element, ns: str, name: str, attr: str = "id") -> str | None:
    """An attribute of the first child ``{ns}name``, if that child exists."""
    el = xml.find(q(ns, name))
    return None if el is None else el.get(attr, "")


def child_text(xml: Element, ns: str, name: str) -> str | None:
    """The text of the first child ``{ns}name``, if that child exists."""
    el = xml.find(q(ns, name))
    return None if el is None else (el.text or "")


class CommandError(Exception):
    """A command that cannot be carried out."""


class TestClient(ClientXMPP):
    """A c2s client that turns stanzas into events and commands into stanzas."""

    def __init__(self, jid: str, password: str, auto_receipts: bool) -> None:
        super().__init__(
            jid,
            password,
            plugin_config={
                "feature_mechanisms": {"unencrypted_plain": True},
                # Receipts are answered below, with an id of their own.
                "xep_0184": {"auto_ack": False, "auto_request": False},
                "xep_0199": {"keepalive": False},
            },
        )
        self.enable_starttls = False
        self.enable_direct_tls = False
        self.enable_plaintext = True
        self.auto_receipts = auto_receipts
        self.quitting = False
        self.ready = asyncio.Event()
        for plugin in (
            "xep_0030",  # service discovery
            "xep_0045",  # multi-user chat
            "xep_0066",  # out-of-band data
            "xep_0071",  # XHTML-IM
            "xep_0085",  # chat states
            "xep_0184",  # delivery receipts
            "xep_0199",  # ping (answers the server's)
            "xep_0308",  # last message correction
            "xep_0333",  # chat markers
            "xep_0334",  # processing hints
            "xep_0359",  # unique and stable stanza ids
            "xep_0424",  # message retraction
            "xep_0428",  # fallback indication
            "xep_0444",  # reactions
            "xep_0461",  # replies
        ):
            self.register_plugin(plugin)
        # One event per stanza, whatever plugin handlers exist for it.
        self.register_handler(Callback("every message", MatchXPath(q(NS_CLIENT, "message")), self._on_message))
        self.register_handler(Callback("every presence", MatchXPath(q(NS_CLIENT, "presence")), self._on_presence))
        self.add_event_handler("session_start", self._on_session_start)
        self.add_event_handler("failed_all_auth", self._on_failed_auth)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.add_event_handler("connection_failed", self._on_connection_failed)

    # ---- incoming ----

    def wire(self, stanza: StanzaBase) -> str:
        """The stanza as written inside the stream."""
        return tostring(stanza.xml, xmlns=self.default_ns, stream=self, top_level=True)

    def _error_event(self, stanza: StanzaBase, kind: str) -> Json:
        xml = stanza.xml
        ev: Json = {"event": "error", "stanza": kind}
        for attr in ("from", "to", "id"):
            put(ev, attr, xml.get(attr))
        err = xml.find(q(NS_CLIENT, "error"))
        if err is not None:
            put(ev, "error_type", err.get("type"))
            for child in err:
                if child.tag.startswith("{" + NS_STANZAS + "}"):
                    name = child.tag.split("}", 1)[1]
                    if name == "text":
                        ev["text"] = child.text or ""
                    elif "condition" not in ev:
                        ev["condition"] = name
        ev["xml"] = self.wire(stanza)
        return ev

    def _on_message(self, stanza: StanzaBase) -> None:
        msg = cast(Message, stanza)
        if msg.xml.get("type") == "error":
            emit(self._error_event(msg, "message"))
            return
        emit(self.describe_message(msg))
        if (
            self.auto_receipts
            and msg.xml.find(q(NS_RECEIPTS, "request")) is not None
            and msg["type"] in ("normal", "chat", "headline")
            and msg.xml.get("id")
        ):
            self.make_receipt(msg["from"], msg.xml.get("id", ""), msg.xml.get("type")).send()

    def describe_message(self, msg: Message) -> Json:
        """The ``message`` event of an incoming message."""
        xml = msg.xml
        ev: Json = {"event": "message"}
        for attr in ("from", "to", "type", "id"):
            put(ev, attr, xml.get(attr))
        put(ev, "body", child_text(xml, NS_CLIENT, "body"))
        put(ev, "subject", child_text(xml, NS_CLIENT, "subject"))
        put(ev, "thread", child_text(xml, NS_CLIENT, "thread"))
        put(ev, "origin_id", child_attr(xml, NS_SID, "origin-id"))
        put(ev, "stanza_id", self._stanza_id(msg))
        put(ev, "replace_id", child_attr(xml, NS_CORRECT, "replace"))
        reactions = xml.find(q(NS_REACTIONS, "reactions"))
        if reactions is not None:
            ev["reactions"] = {
                "id": reactions.get("id", ""),
                "emojis": [r.text or "" for r in reactions.findall(q(NS_REACTIONS, "reaction"))],
            }
        put(ev, "retract_id", child_attr(xml, NS_RETRACT, "retract"))
        reply = xml.find(q(NS_REPLY, "reply"))
        if reply is not None:
            ev["reply"] = {k: v for k, v in (("id", reply.get("id")), ("to", reply.get("to"))) if v is not None}
        for state in CHAT_STATES:
            if xml.find(q(NS_CHATSTATES, state)) is not None:
                ev["chatstate"] = state
                break
        put(ev, "displayed", child_attr(xml, NS_MARKERS, "displayed"))
        put(ev, "received", child_attr(xml, NS_RECEIPTS, "received"))
        if xml.find(q(NS_RECEIPTS, "request")) is not None:
            ev["receipt_request"] = True
        if xml.find(q(NS_MARKERS, "markable")) is not None:
            ev["markable"] = True
        oob = xml.find(q(NS_OOB, "x"))
        if oob is not None:
            put(ev, "oob_url", child_text(oob, NS_OOB, "url"))
        if xml.find(q(NS_XHTML_IM, "html")) is not None:
            ev["html"] = msg["html"]["body"]
        put(ev, "delay", child_attr(xml, NS_DELAY, "delay", "stamp"))
        ev["xml"] = self.wire(msg)
        return ev

    def _stanza_id(self, msg: Message) -> str | None:
        """The XEP-0359 stanza-id set by the room (groupchat) or our server."""
        ids = msg.xml.findall(q(NS_SID, "stanza-id"))
        if not ids:
            return None
        trusted = msg["from"].bare if msg.xml.get("type") == "groupchat" else self.boundjid.bare
        for el in ids:
            if el.get("by") == trusted:
                return el.get("id", "")
        return ids[0].get("id", "")

    def _on_presence(self, stanza: StanzaBase) -> None:
        pres = cast(Presence, stanza)
        xml = pres.xml
        if xml.get("type") == "error":
            emit(self._error_event(pres, "presence"))
            return
        ev: Json = {"event": "presence"}
        for attr in ("from", "to", "type"):
            put(ev, attr, xml.get(attr))
        put(ev, "show", child_text(xml, NS_CLIENT, "show"))
        put(ev, "status", child_text(xml, NS_CLIENT, "status"))
        put(ev, "priority", child_text(xml, NS_CLIENT, "priority"))
        put(ev, "nick", child_text(xml, NS_NICK, "nick"))
        muc = xml.find(q(NS_MUC_USER, "x"))
        if muc is not None:
            info: Json = {}
            item = muc.find(q(NS_MUC_USER, "item"))
            if item is not None:
                for attr in ("affiliation", "role", "jid", "nick"):
                    put(info, attr, item.get(attr))
            info["status_codes"] = [
                int(c) for s in muc.findall(q(NS_MUC_USER, "status")) if (c := s.get("code", "")).isdigit()
            ]
            ev["muc"] = info
            if "nick" not in ev and pres["from"].resource:
                ev["nick"] = pres["from"].resource
        ev["xml"] = self.wire(pres)
        emit(ev)

    # ---- session ----

    async def _on_session_start(self, _event: Any) -> None:
        self.send_presence()
        await self.get_roster()
        self.ready.set()
        emit({"event": "ready", "jid": str(self.boundjid)})

    def _on_failed_auth(self, _event: Any) -> None:
        emit({"event": "auth_failed"})
        self.disconnect(wait=0)

    def _on_connection_failed(self, error: Any) -> None:
        # No retries: a test wants to know at once.
        self.cancel_connection_attempt()
        self._on_disconnected(f"connection failed: {error}")

    def _on_disconnected(self, reason: Any) -> None:
        ev: Json = {"event": "disconnected"}
        if reason:
            ev["reason"] = str(reason)
        emit(ev)
        finish(0 if self.quitting else 1)

    # ---- outgoing ----

    def message(self, cmd: Json, default_type: str = "chat", *, origin_id: bool = True) -> Message:
        """A message to ``cmd["to"]`` with ``cmd["id"]`` (or a fresh id)."""
        to = require(cmd, "to")
        msg = self.make_message(mto=JID(to), mtype=message_type(cmd.get("type") or default_type))
        msg["id"] = cmd.get("id") or self.new_id()
        if origin_id:
            msg["origin_id"]["id"] = msg["id"]
        return msg

    def make_receipt(self, to: JID | str, acked_id: str, mtype: str | None = None) -> Message:
        """An XEP-0184 receipt for message ``acked_id``."""
        msg = self.make_message(mto=JID(to), mtype="chat" if mtype == "chat" else None)
        msg["id"] = self.new_id()
        msg["receipt"] = acked_id
        return msg

    def cmd_send(self, cmd: Json) -> None:
        msg = self.message(cmd)
        if cmd.get("body") is not None:
            msg["body"] = cmd["body"]
        reply_to = cmd.get("reply_to")
        if reply_to:
            msg["reply"]["id"] = require(reply_to, "id")
            if reply_to.get("to"):
                msg["reply"]["to"] = reply_to["to"]
        if cmd.get("oob_url"):
            msg["oob"]["url"] = cmd["oob_url"]
        html = cmd.get("html")
        if html:
            self.set_html(msg, html)
        if cmd.get("receipt", msg["type"] != "groupchat"):
            msg["request_receipt"] = True
        if cmd.get("markable", True):
            msg.enable("markable")
        msg.send()

    @staticmethod
    def set_html(msg: Message, html: str) -> None:
        """Adds an XHTML-IM body: either the body's content or a whole body."""
        stripped = html.lstrip()
        if stripped.startswith("<body"):
            body = ET.fromstring(stripped)
            if body.tag != q(NS_XHTML, "body"):
                raise CommandError(f"html: root element is {body.tag}, not the XHTML body")
            msg["html"].xml.append(body)
        else:
            msg["html"]["body"] = html

    def cmd_correct(self, cmd: Json) -> None:
        msg = self.message(cmd)
        msg["body"] = cmd.get("body") or ""
        msg["replace"]["id"] = require(cmd, "replace_id")
        msg.send()

    def cmd_react(self, cmd: Json) -> None:
        msg = self.message(cmd)
        reactions = cmd.get("reactions") or []
        if not isinstance(reactions, list):
            raise CommandError("reactions must be a list")
        target = cmd.get("react_to") or cmd.get("id")
        if not target:
            raise CommandError("missing field 'id'")
        # The reaction message gets its own id; "id" names the target.
        msg["id"] = self.new_id()
        msg["origin_id"]["id"] = msg["id"]
        self.plugin["xep_0444"].set_reactions(msg, target, [str(r) for r in reactions])
        msg.enable("store")
        msg.send()

    def cmd_retract(self, cmd: Json) -> None:
        target = require(cmd, "id")
        msg = self.message({**cmd, "id": cmd.get("retraction_id")})
        msg["body"] = cmd.get("fallback") or RETRACT_FALLBACK
        msg["retract"]["id"] = target
        msg["fallback"]["for"] = NS_RETRACT
        msg.enable("store")
        msg.send()

    def cmd_chatstate(self, cmd: Json) -> None:
        state = require(cmd, "state")
        if state not in CHAT_STATES:
            raise CommandError(f"unknown chat state {state!r}")
        msg = self.message(cmd, origin_id=False)
        msg["chat_state"] = state
        msg.send()

    def cmd_displayed(self, cmd: Json) -> None:
        target = require(cmd, "id")
        msg = self.message({**cmd, "id": None}, origin_id=False)
        msg["displayed"]["id"] = target
        msg.send()

    def cmd_received(self, cmd: Json) -> None:
        self.make_receipt(require(cmd, "to"), require(cmd, "id"), cmd.get("type") or "chat").send()

    def cmd_join(self, cmd: Json) -> None:
        room = JID(require(cmd, "room"))
        nick = require(cmd, "nick")
        history = cmd.get("history")
        muc = self.plugin["xep_0045"]

        async def join() -> None:
            try:
                await muc.join_muc_wait(
                    room,
                    nick,
                    password=cmd.get("password"),
                    maxstanzas=int(history) if history is not None else None,
                    timeout=30,
                )
            except Exception as exc:  # reported as events already (presence error)
                log.info("join %s: %r", room, exc)

        spawn(join())

    def cmd_leave(self, cmd: Json) -> None:
        room = JID(require(cmd, "room"))
        muc = self.plugin["xep_0045"]
        nick = cmd.get("nick") or muc.our_nicks[None].get(room)
        if not nick:
            raise CommandError(f"not in room {room}")
        try:
            muc.leave_muc(room, nick)
        except KeyError:
            pass
        muc.our_nicks[None].pop(room, None)

    def cmd_subject(self, cmd: Json) -> None:
        msg = self.make_message(mto=JID(require(cmd, "room")), mtype="groupchat")
        msg["id"] = cmd.get("id") or self.new_id()
        msg["subject"] = cmd.get("subject") or ""
        msg.send()

    def cmd_presence(self, cmd: Json) -> None:
        pres = self.make_presence(pto=cmd.get("to"), ptype=cmd.get("type"), pshow=cmd.get("show"), pstatus=cmd.get("status"))
        if cmd.get("id"):
            pres["id"] = cmd["id"]
        pres.send()

    def cmd_raw(self, cmd: Json) -> None:
        # Through the send queue (keeps the order), unfiltered, unparsed.
        self.send(require(cmd, "xml"))

    def cmd_disco(self, cmd: Json) -> None:
        to = require(cmd, "to")
        node = cmd.get("node")

        async def disco() -> None:
            try:
                iq: Iq = await self.plugin["xep_0030"].get_info(jid=JID(to), node=node, local=False, cached=False, timeout=10)
            except IqError as exc:
                emit(self._error_event(exc.iq, "iq"))
                return
            except IqTimeout:
                emit({"event": "command_error", "cmd": "disco", "error": f"no disco#info answer from {to} in 10s"})
                return
            query = iq.xml.find(q(NS_DISCO_INFO, "query"))
            ev: Json = {"event": "disco", "jid": iq.xml.get("from", to)}
            identities: list[Json] = []
            features: list[str] = []
            if query is not None:
                put(ev, "node", query.get("node"))
                for ident in query.findall(q(NS_DISCO_INFO, "identity")):
                    entry: Json = {"category": ident.get("category", ""), "type": ident.get("type", "")}
                    put(entry, "name", ident.get("name"))
                    put(entry, "lang", ident.get("{http://www.w3.org/XML/1998/namespace}lang"))
                    identities.append(entry)
                features = [f.get("var", "") for f in query.findall(q(NS_DISCO_INFO, "feature"))]
            ev["identities"] = identities
            ev["features"] = features
            ev["xml"] = self.wire(iq)
            emit(ev)

        spawn(disco())


def message_type(value: Any) -> MessageType:
    """A valid message type attribute."""
    if value not in MESSAGE_TYPES:
        raise CommandError(f"bad message type {value!r}")
    return cast(MessageType, value)


def require(cmd: Json, key: str) -> Any:
    """``cmd[key]``, which must be present and non-empty."""
    value = cmd.get(key)
    if value is None or value == "":
        raise CommandError(f"missing field {key!r}")
    return value


_tasks: set[asyncio.Task[None]] = set()


def spawn(coro: Any) -> None:
    """Runs a coroutine in the background, keeping a reference to it."""
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


_exit_code: asyncio.Future[int] | None = None


def finish(code: int) -> None:
    """Ends the main loop with an exit code (first call wins)."""
    if _exit_code is not None and not _exit_code.done():
        _exit_code.set_result(code)


def read_stdin(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Feeds stdin lines into the queue (runs in a thread; None at EOF)."""
    for raw in sys.stdin.buffer:
        loop.call_soon_threadsafe(queue.put_nowait, raw.decode("utf-8", "replace"))
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def run_commands(client: TestClient, queue: asyncio.Queue[str | None]) -> None:
    """Executes commands one by one once the session is ready."""
    handlers: dict[str, Callable[[Json], None]] = {
        "send": client.cmd_send,
        "correct": client.cmd_correct,
        "react": client.cmd_react,
        "retract": client.cmd_retract,
        "chatstate": client.cmd_chatstate,
        "displayed": client.cmd_displayed,
        "received": client.cmd_received,
        "join": client.cmd_join,
        "leave": client.cmd_leave,
        "subject": client.cmd_subject,
        "presence": client.cmd_presence,
        "raw": client.cmd_raw,
        "disco": client.cmd_disco,
    }
    await client.ready.wait()
    while True:
        line = await queue.get()
        if line is None:
            break
        line = line.strip()
        if not line:
            continue
        name: Any = None
        try:
            cmd = json.loads(line)
            if not isinstance(cmd, dict):
                raise CommandError("a command is a JSON object")
            name = cmd.get("cmd")
            if name == "quit":
                break
            handler = handlers.get(name) if isinstance(name, str) else None
            if handler is None:
                raise CommandError(f"unknown command {name!r}")
            handler(cmd)
        except Exception as exc:  # bad JSON, missing field, bad XHTML, ...
            emit({"event": "command_error", "cmd": name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        # Everything this command queued is on the socket before the next.
        try:
            await asyncio.wait_for(client.waiting_queue.join(), 10)
        except asyncio.TimeoutError:
            emit({"event": "command_error", "cmd": name, "error": "send queue not drained in 10s"})
    client.quitting = True
    client.disconnect(wait=2)


async def main() -> int:
    global _exit_code
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--jid", required=True, help="bare or full JID, e.g. alice@localhost")
    parser.add_argument("--password", required=True)
    parser.add_argument("--server", default="127.0.0.1:5222", help="HOST:PORT (default 127.0.0.1:5222)")
    parser.add_argument("--no-auto-receipts", action="store_true", help="do not answer XEP-0184 receipt requests")
    parser.add_argument("--timeout", type=float, default=20, help="seconds to wait for the session (default 20)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr (-vv: every stanza)")
    args = parser.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    host, _, port = args.server.rpartition(":")
    if not host or not port.isdigit():
        parser.error("--server must be HOST:PORT")

    loop = asyncio.get_running_loop()
    _exit_code = loop.create_future()
    client = TestClient(args.jid, args.password, auto_receipts=not args.no_auto_receipts)
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    threading.Thread(target=read_stdin, args=(loop, queue), daemon=True).start()
    client.connect(host, int(port))
    spawn(run_commands(client, queue))
    ready = asyncio.ensure_future(client.ready.wait())
    await asyncio.wait({ready, _exit_code}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done() and not _exit_code.done():
        emit({"event": "disconnected", "reason": f"no session after {args.timeout}s"})
        finish(1)
    ready.cancel()
    return await _exit_code


if __name__ == "__main__":
    sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]
    code = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    # The stdin thread may still block in read(): skip interpreter teardown.
    os._exit(code)
