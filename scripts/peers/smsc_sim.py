#!/usr/bin/env python3
"""An SMPP 3.4 SMSC simulator for passerelle's tests (Python standard library only).

SMPP on --smpp (default 127.0.0.1:2775): bind_receiver/transmitter/transceiver (any
credentials, or those of --users id:pw,...), enquire_link, unbind, query_sm, submit_sm
(GSM 03.38 unpacked, ASCII, Latin-1 or UCS-2; UDH and message_payload), with a
deliver_sm receipt ~50 ms later when registered_delivery asks for one. Destinations
starting with --fail-prefix get an UNDELIV receipt instead of DELIVRD.

HTTP control API on --http (default 127.0.0.1:2776), JSON:
  GET /health            {"ok": true}
  GET /mt                every submit_sm recorded, one per PDU
  GET /mt/messages       the same with concatenated parts reassembled
  POST /mo {"from","to","text","system_id"?,"ref"?,"only"?}  sends an MO (split with UDH
                         if long, with reference `ref` if given; only the part numbers in
                         `only` if given); 409 when nothing is bound as receiver or transceiver
  POST /stall {"after"?, "count"}  answers the next `after` submit_sm as usual, then leaves
                         `count` unanswered and unrecorded (an SMSC that hangs mid-message)
  GET /stalled           {"stalled": n} submit_sm left unanswered since the last /stall
  POST /receipts {"hold"}  true: keeps receipts back; false: sends those kept back (to
                         whatever is bound now with the sender's system_id)
  GET /binds             [{"system_id","mode"}]
  POST /reset            forgets the recorded MTs and held receipts, stops holding and stalling
  POST /throttle {"count", "status"?}  answers the next `count` submit_sm with
                         ESME_RTHROTTLED (0x58), or `status` if given (e.g. 20: ESME_RMSGQFUL)
"""

import argparse
import json
import random
import signal
import socketserver
import struct
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
           0x3E: "]", 0x40: "|", 0x65: "€"}
GSM_EXT_REV = {v: k for k, v in GSM_EXT.items()}

ESME_ROK, ESME_RINVCMDID, ESME_RINVBNDSTS, ESME_RINVPASWD = 0x00, 0x03, 0x04, 0x0E
GENERIC_NACK = 0x80000000


def log(msg):
    print(f"{datetime.now().isoformat(timespec='milliseconds')} {msg}", flush=True)


def gsm_decode(data):
    out, i = [], 0
    while i < len(data):
        b = data[i]
        if b == 0x1B and i + 1 < len(data):
            out.append(GSM_EXT.get(data[i + 1], " "))
            i += 2
            continue
        out.append(GSM_BASIC[b] if b < 128 else "?")
        i += 1
    return "".join(out)


def gsm_encode(text):
    """Unpacked septets, or None if a character is not in the GSM alphabet."""
    out = []
    for ch in text:
        if ch in GSM_EXT_REV:
            out += [0x1B, GSM_EXT_REV[ch]]
        elif ch in GSM_BASIC and ch != "\x1b":
            out.append(GSM_BASIC.index(ch))
        else:
            return None
    return bytes(out)


def decode_text(dcs, data):
    if dcs == 0:
        return gsm_decode(data)
    if dcs == 8:
        return data.decode("utf-16-be", errors="replace")
    if dcs == 1:
        return data.decode("ascii", errors="replace")
    return data.decode("latin-1")


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def u8(self):
        b = self.data[self.pos]
        self.pos += 1
        return b

    def cstr(self):
        end = self.data.index(b"\0", self.pos)
        s = self.data[self.pos:end].decode("latin-1")
        self.pos = end + 1
        return s

    def take(self, n):
        b = self.data[self.pos:self.pos + n]
        if len(b) < n:
            raise ValueError("short")
        self.pos += n
        return b

    def tlvs(self):
        out = {}
        while self.pos < len(self.data):
            tag, length = struct.unpack(">HH", self.take(4))
            out[tag] = self.take(length)
        return out


def cstr(s):
    return s.encode("latin-1") + b"\0"


class State:
    def __init__(self, users, fail_prefix):
        self.lock = threading.Lock()
        self.users = users
        self.fail_prefix = fail_prefix
        self.conns = []
        self.mts = []
        self.counter = 0
        self.throttle = [0, 0x58]
        self.hold_receipts = False
        self.stall = [0, 0]
        self.stalled = 0
        self.held = []

    def next_id(self):
        with self.lock:
            self.counter += 1
            return f"{self.counter:08x}"


class Conn:
    def __init__(self, sock, state):
        self.sock, self.state = sock, state
        self.wlock = threading.Lock()
        self.mode, self.system_id = None, None
        self.seq = 0
        self.waiting = {}

    def send(self, cmd, status, seq, body=b""):
        pdu = struct.pack(">IIII", 16 + len(body), cmd, status, seq) + body
        with self.wlock:
            self.sock.sendall(pdu)

    def next_seq(self):
        with self.wlock:
            self.seq += 1
            return self.seq

    def request(self, cmd, body, timeout=10):
        """Sends a request and waits for its response status (None on timeout)."""
        seq = self.next_seq()
        ev = threading.Event()
        self.waiting[seq] = [ev, None]
        self.send(cmd, 0, seq, body)
        ev.wait(timeout)
        return self.waiting.pop(seq, [None, None])[1]

    def can_receive(self):
        return self.mode in ("rx", "trx")


def deliver_body(src, dst, esm, dcs, sm, tlvs=b""):
    return (cstr("") + bytes([1, 1]) + cstr(src) + bytes([1, 1]) + cstr(dst)
            + bytes([esm, 0, 0]) + cstr("") + cstr("") + bytes([0, 0, dcs, 0, len(sm)]) + sm + tlvs)


def receipt(state, conn, sm, msgid):
    time.sleep(0.05)
    with state.lock:
        if state.hold_receipts:
            state.held.append((sm, msgid))
            log(f"receipt {msgid} held back")
            return
    stamp = datetime.now().strftime("%y%m%d%H%M")
    failed = state.fail_prefix and sm["destination_addr"].lstrip("+").startswith(state.fail_prefix.lstrip("+"))
    stat, err, mstate = ("UNDELIV", "001", 5) if failed else ("DELIVRD", "000", 2)
    text = (f"id:{msgid} sub:001 dlvrd:{'000' if failed else '001'} submit date:{stamp} "
            f"done date:{stamp} stat:{stat} err:{err} text:").encode()
    tlvs = struct.pack(">HH", 0x001E, len(msgid) + 1) + cstr(msgid) + struct.pack(">HHB", 0x0427, 1, mstate)
    target = conn if conn is not None and conn.can_receive() else None
    if target is None:
        with state.lock:
            target = next((c for c in state.conns if c.can_receive() and c.system_id == sm["system_id"]), None)
    if target is None:
        log(f"receipt {msgid}: no receiver bound")
        return
    body = deliver_body(sm["destination_addr"], sm["source_addr"], 0x04, 0, text, tlvs)
    try:
        status = target.request(0x00000005, body)
        log(f"receipt {msgid} {stat} -> resp {status}")
    except OSError as e:
        log(f"receipt {msgid} failed: {e}")


def parse_submit(body):
    r = Reader(body)
    sm = {"service_type": r.cstr(), "source_addr_ton": r.u8(), "source_addr_npi": r.u8(),
          "source_addr": r.cstr(), "dest_addr_ton": r.u8(), "dest_addr_npi": r.u8(),
          "destination_addr": r.cstr(), "esm_class": r.u8(), "protocol_id": r.u8(),
          "priority_flag": r.u8(), "schedule_delivery_time": r.cstr(), "validity_period": r.cstr(),
          "registered_delivery": r.u8(), "replace_if_present_flag": r.u8(), "data_coding": r.u8(),
          "sm_default_msg_id": r.u8()}
    length = r.u8()
    payload = r.take(length)
    tlvs = r.tlvs()
    if not payload and 0x0424 in tlvs:
        payload = tlvs[0x0424]
    udh = b""
    if sm["esm_class"] & 0x40 and payload:
        udh, payload = payload[:payload[0] + 1], payload[payload[0] + 1:]
    sm.update(udh=udh.hex(), payload=payload.hex(), text=decode_text(sm["data_coding"], payload),
              tlvs={f"{k:04x}": v.hex() for k, v in tlvs.items()})
    return sm


def handle_pdu(conn, state, cmd, status, seq, body):
    if cmd & 0x80000000:
        w = conn.waiting.get(seq)
        if w:
            w[1] = status
            w[0].set()
        return True
    if cmd in (0x01, 0x02, 0x09):
        r = Reader(body)
        system_id, password = r.cstr(), r.cstr()
        if state.users and state.users.get(system_id) != password:
            conn.send(cmd | 0x80000000, ESME_RINVPASWD, seq, cstr("SMSCSIM"))
            log(f"bind refused for {system_id}")
            return True
        conn.mode = {0x01: "rx", 0x02: "tx", 0x09: "trx"}[cmd]
        conn.system_id = system_id
        conn.send(cmd | 0x80000000, ESME_ROK, seq, cstr("SMSCSIM") + struct.pack(">HHB", 0x0210, 1, 0x34))
        log(f"bind {conn.mode} {system_id}")
        return True
    if cmd == 0x15:
        conn.send(0x80000015, ESME_ROK, seq)
        return True
    if cmd == 0x06:
        conn.send(0x80000006, ESME_ROK, seq)
        log(f"unbind {conn.system_id}")
        return False
    if cmd == 0x03:
        r = Reader(body)
        msgid = r.cstr()
        conn.send(0x80000003, ESME_ROK, seq, cstr(msgid) + cstr("") + bytes([2, 0]))
        return True
    if cmd == 0x04:
        if conn.mode not in ("tx", "trx"):
            conn.send(0x80000004, ESME_RINVBNDSTS, seq, cstr(""))
            return True
        try:
            sm = parse_submit(body)
        except (ValueError, IndexError):
            conn.send(0x80000004, 0x08, seq, cstr(""))
            return True
        with state.lock:
            stalled = state.stall[1] > 0 and state.stall[0] == 0
            if stalled:
                state.stall[1] -= 1
                state.stalled += 1
            elif state.stall[1] > 0:
                state.stall[0] -= 1
        if stalled:
            log(f"submit to {sm['destination_addr']} left unanswered")
            return True
        with state.lock:
            throttled = state.throttle[0] > 0
            if throttled:
                state.throttle[0] -= 1
        if throttled:
            conn.send(0x80000004, state.throttle[1], seq, cstr(""))
            log(f"submit to {sm['destination_addr']} refused with status {state.throttle[1]:#x}")
            return True
        msgid = state.next_id()
        sm.update(message_id=msgid, system_id=conn.system_id, time=time.time())
        with state.lock:
            state.mts.append(sm)
        conn.send(0x80000004, ESME_ROK, seq, cstr(msgid))
        log(f"submit {msgid} to {sm['destination_addr']} dcs {sm['data_coding']} udh {sm['udh']}: {sm['text']!r}")
        if sm["registered_delivery"] & 0x03:
            threading.Thread(target=receipt, args=(state, conn, sm, msgid), daemon=True).start()
        return True
    conn.send(GENERIC_NACK, ESME_RINVCMDID, seq)
    return True


def serve_conn(sock, state):
    conn = Conn(sock, state)
    with state.lock:
        state.conns.append(conn)
    buf = b""
    try:
        while True:
            while len(buf) >= 16:
                length, cmd, status, seq = struct.unpack(">IIII", buf[:16])
                if length < 16 or length > 70000:
                    return
                if len(buf) < length:
                    break
                body, buf = buf[16:length], buf[length:]
                if not handle_pdu(conn, state, cmd, status, seq, body):
                    return
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
    except OSError:
        return
    finally:
        with state.lock:
            if conn in state.conns:
                state.conns.remove(conn)
        for w in list(conn.waiting.values()):
            w[0].set()
        try:
            sock.close()
        except OSError:
            pass


def reassemble(mts):
    out, groups = [], {}
    for sm in mts:
        udh = bytes.fromhex(sm["udh"])
        concat = None
        i = 1
        while i + 1 < len(udh):
            iei, iel = udh[i], udh[i + 1]
            val = udh[i + 2:i + 2 + iel]
            if iei == 0x00 and iel == 3:
                concat = (val[0], val[1], val[2])
            elif iei == 0x08 and iel == 4:
                concat = ((val[0] << 8) | val[1], val[2], val[3])
            i += 2 + iel
        if not concat or concat[1] <= 1:
            out.append({**sm, "parts": 1, "message_ids": [sm["message_id"]]})
            continue
        key = (sm["source_addr"], sm["destination_addr"], concat[0])
        g = groups.setdefault(key, {"total": concat[1], "parts": {}})
        g["parts"][concat[2]] = sm
        if len(g["parts"]) == g["total"]:
            parts = [g["parts"][n] for n in sorted(g["parts"])]
            del groups[key]
            out.append({**parts[0], "text": "".join(p["text"] for p in parts), "parts": len(parts),
                        "message_ids": [p["message_id"] for p in parts]})
    return out


def send_mo(state, msg):
    with state.lock:
        target = next((c for c in state.conns if c.can_receive()
                       and (not msg.get("system_id") or c.system_id == msg["system_id"])), None)
    if target is None:
        return None
    text = msg["text"]
    # One unit per character, so no escape pair or surrogate pair is cut between parts.
    if gsm_encode(text) is not None:
        dcs, single, per = 0, 160, 153
        units = [gsm_encode(ch) for ch in text]
    else:
        dcs, single, per = 8, 140, 134
        units = [ch.encode("utf-16-be") for ch in text]
    total = sum(len(u) for u in units)
    if total <= single:
        parts = [b"".join(units)]
    else:
        parts, cur = [], b""
        for u in units:
            if len(cur) + len(u) > per:
                parts.append(cur)
                cur = b""
            cur += u
        if cur:
            parts.append(cur)
    ref = int(msg.get("ref", random.randint(0, 255))) & 0xFF
    only = msg.get("only")
    worst = 0
    for n, part in enumerate(parts, 1):
        if only is not None and n not in only:
            continue
        esm, sm = 0, part
        if len(parts) > 1:
            esm, sm = 0x40, bytes([5, 0, 3, ref, len(parts), n]) + part
        status = target.request(0x00000005, deliver_body(msg["from"].lstrip("+"), msg["to"].lstrip("+"), esm, dcs, sm))
        log(f"mo part {n}/{len(parts)} from {msg['from']} -> resp {status}")
        worst = max(worst, 0xFFFFFFFF if status is None else status)
    return {"status": worst, "parts": len(parts), "data_coding": dcs}


def make_http(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def do_GET(self):
            with state.lock:
                mts = list(state.mts)
                binds = [{"system_id": c.system_id, "mode": c.mode} for c in state.conns if c.mode]
            if self.path == "/health":
                self.reply(200, {"ok": True})
            elif self.path == "/mt":
                self.reply(200, mts)
            elif self.path == "/mt/messages":
                self.reply(200, reassemble(mts))
            elif self.path == "/stalled":
                with state.lock:
                    self.reply(200, {"stalled": state.stalled})
            elif self.path == "/binds":
                self.reply(200, binds)
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path == "/reset":
                with state.lock:
                    state.mts.clear()
                    state.hold_receipts, state.held = False, []
                    state.stall, state.stalled = [0, 0], 0
                self.reply(200, {"ok": True})
            elif self.path == "/throttle":
                try:
                    req = json.loads(raw)
                    count, status = int(req["count"]), int(req.get("status", 0x58))
                except (ValueError, KeyError, TypeError):
                    self.reply(400, {"error": "expected {\"count\": n}"})
                    return
                with state.lock:
                    state.throttle = [count, status]
                self.reply(200, {"ok": True})
            elif self.path == "/stall":
                try:
                    req = json.loads(raw)
                    after, count = int(req.get("after", 0)), int(req["count"])
                except (ValueError, KeyError, TypeError):
                    self.reply(400, {"error": "expected {\"after\", \"count\"}"})
                    return
                with state.lock:
                    state.stall, state.stalled = [after, count], 0
                self.reply(200, {"ok": True})
            elif self.path == "/receipts":
                try:
                    hold = bool(json.loads(raw)["hold"])
                except (ValueError, KeyError, TypeError):
                    self.reply(400, {"error": "expected {\"hold\": true|false}"})
                    return
                with state.lock:
                    state.hold_receipts = hold
                    held = [] if hold else state.held
                    if not hold:
                        state.held = []
                for sm, msgid in held:
                    threading.Thread(target=receipt, args=(state, None, sm, msgid), daemon=True).start()
                self.reply(200, {"ok": True, "released": len(held)})
            elif self.path == "/mo":
                try:
                    msg = json.loads(raw)
                    msg["from"], msg["to"], msg["text"]
                except (ValueError, KeyError, TypeError):
                    self.reply(400, {"error": "expected {\"from\", \"to\", \"text\"}"})
                    return
                result = send_mo(state, msg)
                if result is None:
                    self.reply(409, {"error": "nothing bound as receiver or transceiver"})
                else:
                    self.reply(200, result)
            else:
                self.reply(404, {"error": "not found"})

        def log_message(self, *args):
            pass

    return Handler


def hostport(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smpp", default="127.0.0.1:2775")
    ap.add_argument("--http", default="127.0.0.1:2776")
    ap.add_argument("--users", default="")
    ap.add_argument("--fail-prefix", default="")
    args = ap.parse_args()
    users = dict(u.split(":", 1) for u in args.users.split(",") if u)
    state = State(users, args.fail_prefix)

    class SmppHandler(socketserver.BaseRequestHandler):
        def handle(self):
            serve_conn(self.request, state)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    smpp = socketserver.ThreadingTCPServer(hostport(args.smpp), SmppHandler)
    http = ThreadingHTTPServer(hostport(args.http), make_http(state))
    http.daemon_threads = True
    for srv in (smpp, http):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    log(f"smsc simulator: SMPP {args.smpp}, HTTP {args.http}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    smpp.shutdown()
    http.shutdown()
    with state.lock:
        for c in state.conns:
            try:
                c.sock.close()
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
