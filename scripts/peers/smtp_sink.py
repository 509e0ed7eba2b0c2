#!/usr/bin/env python3
"""SMTP sink for the bridge's outbound mail in end-to-end tests.

A real RFC 5321 server (aiosmtpd), no TLS, no AUTH, that accepts any sender
and any recipient. For every message it:

1. takes the original DATA bytes and prepends ``X-Envelope-From:`` and
   ``X-Envelope-To:`` (recipients comma-joined);
2. adds the result to a Maildir, which tests read with ``mailbox.Maildir``;
3. relays the same bytes over LMTP (dovecot), one recipient at a time,
   ignoring rejections (dovecot refuses unknown users), so mail to a local
   user is readable over IMAP;

and only then answers 250, so a client that got its 250 finds the message
in both places.

Usage::

    smtp_sink.py --listen 127.0.0.1:2525 --maildir DIR --lmtp 127.0.0.1:2424

``--lmtp ''`` disables the relay. The controller's thread serves SMTP while
the main thread blocks until SIGTERM or SIGINT, then stops it and exits 0.
Python 3.11, standard library and aiosmtpd only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import mailbox
import signal
import ssl
import smtplib
import sys
import threading
from types import FrameType

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger("smtp_sink")


def host_port(value: str) -> tuple[str, int]:
    """Parses ``HOST:PORT`` (argparse type)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def header_value(text: str) -> str:
    """Makes text safe as a single header line (no CR/LF)."""
    return " ".join(text.split())


def with_envelope(mail_from: str, rcpt_tos: list[str], original: bytes) -> bytes:
    """Prepends the X-Envelope-From / X-Envelope-To headers to the message.

    The line ending follows the message's own (CRLF as received over SMTP).
    """
    eol = b"\r\n" if b"\r\n" in original[:4096] or not original else b"\n"
    head = (
        f"X-Envelope-From: {header_value(mail_from)}".encode("utf-8")
        + eol
        + f"X-Envelope-To: {header_value(', '.join(rcpt_tos))}".encode("utf-8")
        + eol
    )
    return head + original


class SinkHandler:
    """aiosmtpd handler: store every message, then relay it over LMTP."""

    def __init__(self, maildir: mailbox.Maildir, lmtp: tuple[str, int] | None) -> None:
        self.maildir = maildir
        self.lmtp = lmtp
        # Maildir.add is called from worker threads; keep it serialised.
        self._lock = threading.Lock()

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accepts every recipient."""
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Stores the message with its envelope headers, relays it, answers 250."""
        original = envelope.original_content
        if original is None:  # decode_data=False always sets it; be defensive
            raw = envelope.content or b""
            original = raw.encode("utf-8") if isinstance(raw, str) else raw
        mail_from = envelope.mail_from or ""
        rcpt_tos = list(envelope.rcpt_tos)
        data = with_envelope(mail_from, rcpt_tos, original)
        await asyncio.to_thread(self._store, data)
        log.info("stored: from <%s> to %s, %d bytes", mail_from, rcpt_tos, len(data))
        if self.lmtp is not None:
            await asyncio.to_thread(
                self._relay, mail_from, rcpt_tos, data, envelope.smtp_utf8,
                any(o.upper() == "BODY=8BITMIME" for o in envelope.mail_options),
            )
        return "250 Message accepted for delivery"

    def _store(self, data: bytes) -> None:
        with self._lock:
            self.maildir.add(data)

    def _relay(
        self, mail_from: str, rcpt_tos: list[str], data: bytes, utf8: bool, eightbit: bool
    ) -> None:
        """Delivers to each recipient over LMTP; failures are logged only."""
        assert self.lmtp is not None
        host, port = self.lmtp
        for rcpt in rcpt_tos:
            try:
                with smtplib.LMTP(host, port, timeout=10) as lmtp:
                    lmtp.ehlo_or_helo_if_needed()
                    options: list[str] = []
                    if utf8 and lmtp.has_extn("smtputf8"):
                        options.append("SMTPUTF8")
                    if eightbit and lmtp.has_extn("8bitmime"):
                        options.append("BODY=8BITMIME")
                    lmtp.sendmail(mail_from, [rcpt], data, mail_options=options)
                log.info("lmtp: delivered to <%s>", rcpt)
            except (smtplib.SMTPException, OSError) as e:
                log.info("lmtp: <%s> not delivered: %s", rcpt, e)


def main(argv: list[str] | None = None) -> int:
    """Runs the sink until SIGTERM or SIGINT."""
    ap = argparse.ArgumentParser(description="SMTP sink for end-to-end tests.")
    ap.add_argument("--listen", type=host_port, default=("127.0.0.1", 2525),
                    help="HOST:PORT to serve SMTP on (default 127.0.0.1:2525)")
    ap.add_argument("--maildir", required=True, help="Maildir to store messages in (created)")
    ap.add_argument("--lmtp", default="127.0.0.1:2424",
                    help="HOST:PORT of the LMTP server to relay to; '' disables (default 127.0.0.1:2424)")
    ap.add_argument("--listen-tls", type=host_port,
                    help="HOST:PORT to serve SMTP over implicit TLS on (needs --tls-cert)")
    ap.add_argument("--tls-cert", help="PEM certificate: offer STARTTLS (and --listen-tls)")
    ap.add_argument("--tls-key", help="PEM key of --tls-cert")
    args = ap.parse_args(argv)
    tls = None
    if args.tls_cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    elif args.listen_tls:
        ap.error("--listen-tls needs --tls-cert")
    lmtp = host_port(args.lmtp) if args.lmtp else None

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Installed before the controller starts, so an early TERM is not lost.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    handler = SinkHandler(mailbox.Maildir(args.maildir, create=True), lmtp)
    host, port = args.listen
    common = dict(
        server_hostname="localhost",
        ready_timeout=10.0,
        # Keep the raw bytes; offer SMTPUTF8 like a modern MTA.
        decode_data=False,
        enable_SMTPUTF8=True,
    )
    controllers = [Controller(handler, hostname=host, port=port, tls_context=tls,
                              require_starttls=False, **common)]
    if args.listen_tls:
        tls_host, tls_port = args.listen_tls
        controllers.append(Controller(handler, hostname=tls_host, port=tls_port,
                                      ssl_context=tls, **common))
    for controller in controllers:
        controller.start()
    log.info("listening on %s:%d, maildir %s, lmtp %s", host, port, args.maildir,
             f"{lmtp[0]}:{lmtp[1]}" if lmtp else "off")
    try:
        while not stop.wait(3600):
            pass
    finally:
        for controller in controllers:
            controller.stop()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
