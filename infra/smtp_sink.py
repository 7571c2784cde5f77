"""A local SMTP sink for the process mode: what Mailpit is in docker compose.

Keeps every message it receives in memory and serves the subset of Mailpit's HTTP API
the tests and demos use, so they read mail the same way in both modes:

    GET    /api/v1/messages?start=0&limit=50   newest first, like Mailpit
    DELETE /api/v1/messages                    delete every message
    GET    /healthz, /readyz, /livez

MP_UI_AUTH="user:password" (Mailpit's variable, space-separated pairs) makes the API ask for
one of them by HTTP basic authentication, as Mailpit does; the health endpoints stay open for
the healthcheck. It has no web UI.

    python -m infra.smtp_sink --smtp-port 1025 --http-port 8025
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import logging
import os
import re
import signal
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import getaddresses
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

log = logging.getLogger("smtp_sink")
DEFAULT_LIMIT = 50  # Mailpit's default page size
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True)
class StoredMessage:
    id: str
    message_id: str
    sender: list[tuple[str, str]]
    recipients: list[tuple[str, str]]
    subject: str
    created: datetime
    size: int

    def summary(self) -> dict[str, Any]:
        """The message as Mailpit's message list shows it."""
        name, address = self.sender[0] if self.sender else ("", "")
        return {
            "ID": self.id,
            "MessageID": self.message_id,
            "Read": False,
            "From": {"Name": name, "Address": address},
            "To": [{"Name": n, "Address": a} for n, a in self.recipients],
            "Subject": self.subject,
            "Created": self.created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "Size": self.size,
        }


class Mailbox:
    """Messages in arrival order; safe to use from the SMTP and the HTTP threads."""

    def __init__(self) -> None:
        self._messages: list[StoredMessage] = []
        self._lock = threading.Lock()

    def add(self, raw: bytes) -> StoredMessage:
        # compat32 keeps headers as strings: the default policy builds header objects (and a
        # class per header), five times the CPU of the rest of this sink per message.
        headers = HeaderParser(policy=compat32).parsestr(raw.decode("utf-8", "replace"))
        message = StoredMessage(
            id=uuid.uuid4().hex,
            message_id=_text(headers.get("Message-ID", "")).strip().strip("<>"),
            sender=getaddresses([_text(h) for h in headers.get_all("From", [])]),
            recipients=getaddresses([_text(h) for h in headers.get_all("To", [])]),
            subject=_text(headers.get("Subject", "")),
            created=datetime.now(UTC),
            size=len(raw),
        )
        with self._lock:
            self._messages.append(message)
        return message

    def page(self, start: int, limit: int) -> tuple[int, list[StoredMessage]]:
        with self._lock:
            newest_first = self._messages[::-1]
        return len(newest_first), newest_first[start : start + limit]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


def _text(header: str) -> str:
    """A header's text, unfolded, with RFC 2047 encoded words decoded; as written if they
    cannot be (bad base64, unknown charset): a sink takes every message it is given."""
    unfolded = _FOLD.sub("", header)
    try:
        return str(make_header(decode_header(unfolded)))
    except (HeaderParseError, UnicodeError, LookupError):
        return unfolded


class SmtpHandler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = self.mailbox.add(envelope.original_content or envelope.content)
        log.info("received %s for %s: %s", message.message_id, envelope.rcpt_tos, message.subject)
        return "250 Message accepted for delivery"


HEALTH_PATHS = ("/healthz", "/readyz", "/livez")


def http_handler(mailbox: Mailbox, credentials: str = "") -> type[BaseHTTPRequestHandler]:
    """The HTTP API; `credentials` in MP_UI_AUTH's form, empty for an open API."""
    accepted = [f"Basic {base64.b64encode(pair.encode()).decode()}" for pair in credentials.split()]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path in HEALTH_PATHS:
                self._reply(HTTPStatus.OK, "ok")
            elif not self._authorized():
                return
            elif url.path == "/api/v1/messages":
                query = parse_qs(url.query)
                try:
                    start = int(query.get("start", ["0"])[0])
                    limit = int(query.get("limit", [str(DEFAULT_LIMIT)])[0])
                except ValueError:
                    self._reply(HTTPStatus.BAD_REQUEST, {"error": "start and limit must be integers"})
                    return
                total, messages = mailbox.page(max(start, 0), max(limit, 0))
                self._reply(
                    HTTPStatus.OK,
                    {
                        "total": total,
                        "unread": total,
                        "count": len(messages),
                        "messages_count": total,
                        "start": start,
                        "tags": [],
                        "messages": [m.summary() for m in messages],
                    },
                )
            else:
                self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})

        def do_DELETE(self) -> None:
            if not self._authorized():
                return
            if urlsplit(self.path).path != "/api/v1/messages":
                self._reply(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            mailbox.clear()
            self._reply(HTTPStatus.OK, "ok")

        def _authorized(self) -> bool:
            """True when no credentials are set or one pair was sent; otherwise answers 401."""
            given = self.headers.get("Authorization", "")
            if not accepted or any(hmac.compare_digest(given, pair) for pair in accepted):
                return True
            self._reply(HTTPStatus.UNAUTHORIZED, {"error": "authentication required"}, basic_realm=True)
            return False

        def _reply(self, status: HTTPStatus, body: dict[str, Any] | str, basic_realm: bool = False) -> None:
            text = body if isinstance(body, str) else json.dumps(body)
            payload = text.encode()
            self.send_response(status)
            if basic_realm:
                self.send_header("WWW-Authenticate", 'Basic realm="Mailpit"')
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            """Polling tests would flood the log; SMTP traffic is logged instead."""

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command

    mailbox = Mailbox()
    smtp = Controller(SmtpHandler(mailbox), hostname=args.host, port=args.smtp_port, enable_SMTPUTF8=True)
    smtp.start()
    credentials = os.environ.get("MP_UI_AUTH", "")
    http = ThreadingHTTPServer((args.host, args.http_port), http_handler(mailbox, credentials))
    threading.Thread(target=http.serve_forever, name="http", daemon=True).start()
    log.info("SMTP on %s:%d, HTTP API on %s:%d", args.host, args.smtp_port, args.host, args.http_port)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stopping.wait()
    http.shutdown()
    smtp.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
