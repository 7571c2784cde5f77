"""Compose the email of a notification and send it over SMTP (SMTP_URL=smtp://host:port).

Each worker thread keeps one SMTP connection open and sends every email over it: setting
one up (TCP, greeting, EHLO, QUIT) costs more than the email itself. A connection the
server dropped meanwhile is replaced once; any other failure closes it and raises, so the
task retries on a fresh one. An artificial delay per email (the `notify_delay_ms` knob,
see knobs.py) lets the scaling demo show a backlog draining faster with more workers.
"""

from __future__ import annotations

import contextlib
import email.policy
import re
import smtplib
import threading
import time
from collections.abc import Callable
from email.contentmanager import raw_data_manager
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from services.notifications.model import Notification
from services.notifications.settings import DEFAULT_SENDER
from shared.money import format_cents

MAX_LINE = 998  # RFC 5322 2.1.1: a line MUST NOT be longer (78 is only a SHOULD)
# Printable ASCII and tabs, nothing a mail system could read as a line break or a control
_PLAIN_LINE = re.compile(rf"[\t\x20-\x7e]{{0,{MAX_LINE}}}")


class _PlainHeaders(email.policy.Compat32):
    """Headers kept as the strings we wrote: the default policy parses every header into
    objects (most of a worker's CPU per email) to validate what we composed ourselves, and
    compat32 still runs each one through `email.header.Header` to fold it at 78 columns.
    A header of plain printable ASCII within SMTP's hard line limit is written on one line
    as it is; anything else is folded (or refused) by compat32 as before. (A plain
    `compat32.clone(max_line_length=998)` writes the same bytes at five times the CPU.)"""

    content_manager = raw_data_manager

    def fold(self, name: str, value: str) -> str:
        return self._as_written(name, value) or super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        line = self._as_written(name, value)
        return line.encode("ascii") if line else super().fold_binary(name, value)

    def _as_written(self, name: str, value: str) -> str | None:
        line = f"{name}: {value}"
        return f"{line}{self.linesep}" if _PLAIN_LINE.fullmatch(line) else None


PLAIN_HEADERS = _PlainHeaders(linesep="\r\n")


def compose(notification: Notification, sender: str = DEFAULT_SENDER) -> EmailMessage:
    """The email; addresses outside ASCII need the full policy (SMTPUTF8), the rest is plain ASCII."""
    plain = (notification.recipient + sender).isascii()
    message = EmailMessage(policy=PLAIN_HEADERS if plain else email.policy.default)
    message["From"] = sender
    message["To"] = notification.recipient
    message["Message-ID"] = notification.message_id
    message["Date"] = formatdate(localtime=False, usegmt=True)
    if notification.template == "order_confirmed":
        message["Subject"] = f"Your order {notification.order_id} is confirmed"
        total = int(notification.detail)
        text = (
            f"Thank you! Your payment was authorized and your order {notification.order_id} "
            f"is confirmed.\n\nTotal: {format_cents(total)}\n"
        )
    else:
        message["Subject"] = f"Your order {notification.order_id} was cancelled"
        text = (
            f"We are sorry: your order {notification.order_id} was cancelled "
            f"({notification.detail.replace('_', ' ')}). You have not been charged.\n"
        )
    if all(_PLAIN_LINE.fullmatch(line) for line in text.splitlines()):
        # sent as it reads, not quoted-printable (also cheaper to write)
        message.set_content(text, charset="us-ascii", cte="7bit")
    else:
        message.set_content(text)
    return message


class SmtpMailer:
    def __init__(
        self, smtp_url: str, *, sender: str = DEFAULT_SENDER, delay_ms: Callable[[], int] = lambda: 0
    ) -> None:
        url = urlsplit(smtp_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 25
        self.sender = sender
        self.delay_ms = delay_ms
        self._local = threading.local()  # this thread's open connection, if any

    def send(self, notification: Notification) -> None:
        """Hand the email to the SMTP server; raises OSError (smtplib errors included) on failure."""
        delay_ms = self.delay_ms()
        if delay_ms:
            time.sleep(delay_ms / 1000)
        message = compose(notification, self.sender)
        for reconnected in (False, True):
            try:
                self._connection().send_message(message)
                return
            except smtplib.SMTPServerDisconnected:  # e.g. closed while idle: reconnect once
                self.close()
                if reconnected:
                    raise
            except OSError:
                self.close()
                raise

    def close(self) -> None:
        """Close this thread's connection (the next send opens a new one)."""
        smtp = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.quit()

    def _connection(self) -> smtplib.SMTP:
        smtp = getattr(self._local, "smtp", None)
        if smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=10)
            self._local.smtp = smtp
        return smtp
