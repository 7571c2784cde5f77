"""Compose the email of a notification and send it over SMTP (SMTP_URL=smtp://host:port).

Each worker thread keeps one SMTP connection open and sends every email over it: setting
one up (TCP, greeting, EHLO, QUIT) costs more than the email itself. A connection the
server dropped meanwhile is replaced once; any other failure closes it and raises, so the
task retries on a fresh one. An artificial delay per email (the `notify_delay_ms` knob,
see knobs.py) lets the scaling demo show a backlog draining faster with more workers.

Whatever strings a notification carries, its email gains no header and no recipient: `compose`
refuses it with `UnsafeEmail` instead (see there). The consumer composes each notification once
before queueing it, so such an event is dead-lettered with the reason, never queued.
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
from email.errors import NonASCIILocalPartDefect
from email.headerregistry import Address, BaseHeader
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from services.notifications.model import Notification
from services.notifications.settings import DEFAULT_SENDER
from shared.consumer import PermanentError
from shared.money import format_cents
from shared.tracing import client_call

MAX_LINE = 998  # RFC 5322 2.1.1: a line MUST NOT be longer (78 is only a SHOULD)
# Printable ASCII and tabs, nothing a mail system could read as a line break or a control
_PLAIN_LINE = re.compile(rf"[\t\x20-\x7e]{{0,{MAX_LINE}}}")
# What every order writes, checked without the header parser (which costs ~50 us a header): a bare
# dot-atom address and the shop's own Message-ID shape, which the parser reads back unchanged as one
# address and one id (the fuzzers check it). Anything else goes through the parser.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PLAIN_MESSAGE_ID = re.compile(r"<[0-9a-f-]{1,64}\.[a-z_]{1,64}@[a-z.]{1,64}>")


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


class UnsafeEmail(PermanentError):
    """The email would not be the one the notification names: a header value with a line break,
    a recipient that is not exactly one bare address, a Message-ID that is not one msg-id.

    Refused rather than neutralised: stripping or escaping would silently mail another address
    or name another order than the event did, and no valid event carries such a value (the
    contract wants UUID ids and bare addresses). A PermanentError, so the consumer dead-letters
    the event with this message; in the worker (a notification queued before) the task fails
    without retrying. The checks are the standard library's own header parser reading the value
    back, not hand-written escaping, so they hold for the compat32 writer and the full policy alike.
    """


def _refuse_line_breaks(name: str, value: str) -> None:
    """The rule of `email.policy.EmailPolicy.header_store_parse` (every line boundary of
    `str.splitlines`, which any mail system may take for one), also for a break at the end of
    the value, which the standard library lets through, and for the compat32 writer, which has
    no such rule."""
    if "".join(value.splitlines()) != value:
        raise UnsafeEmail(f"{name} would contain a line break: {value!r:.120}")


def _read_back(name: str, value: str) -> BaseHeader:
    """The header as the standard library's parser reads `value`: refused unless it reads the
    very same value without defects (a local part past ASCII aside: SMTPUTF8 carries it)."""
    _refuse_line_breaks(name, value)
    try:
        header = email.policy.SMTPUTF8.header_factory(name, value)
    except Exception as exc:  # besides HeaderParseError, the parser of Python 3.11.7 fails on
        # hostile input with IndexError ("a@", "<"), AttributeError ("a@[", ".:"), TypeError
        # (" .;"), UnboundLocalError ("a@[ "): whichever, the value is not one to write.
        raise UnsafeEmail(f"{name} does not parse: {value!r:.120} ({exc!s:.120})") from exc
    defects = [d for d in header.defects if not isinstance(d, NonASCIILocalPartDefect)]
    if str(header) != value or defects:
        raise UnsafeEmail(f"{name} does not read back as written: {value!r:.120} {defects[:1]!s:.120}")
    return header


def _one_address(name: str, value: str) -> Address:
    """The one address `value` names, as a mail client would read it."""
    header = _read_back(name, value)
    if len(header.addresses) != 1:
        raise UnsafeEmail(f"{name} names {len(header.addresses)} addresses: {value!r:.120}")
    return header.addresses[0]


def _recipient(notification: Notification) -> str:
    """The recipient: exactly one bare address (no display name, comment or angle brackets),
    so the To header and the SMTP envelope name the same single mailbox."""
    if _PLAIN_ADDRESS.fullmatch(notification.recipient):
        return notification.recipient
    if _one_address("To", notification.recipient).addr_spec != notification.recipient:
        raise UnsafeEmail(f"To is not a bare address: {notification.recipient!r:.120}")
    return notification.recipient


def _message_id(notification: Notification) -> str:
    """One msg-id in ASCII: outside ASCII the compat32 writer would encode it into another id."""
    if _PLAIN_MESSAGE_ID.fullmatch(notification.message_id):
        return notification.message_id
    if not notification.message_id.isascii():
        raise UnsafeEmail(f"Message-ID is not ASCII: {notification.message_id!r:.120}")
    _read_back("Message-ID", notification.message_id)
    return notification.message_id


def compose(notification: Notification, sender: str = DEFAULT_SENDER) -> EmailMessage:
    """The email, or UnsafeEmail. Addresses outside ASCII need the full policy (SMTPUTF8), the
    rest is plain ASCII. `sender` is the operator's (SmtpMailer checks it is one address once)."""
    recipient, message_id = _recipient(notification), _message_id(notification)
    subject = (
        f"Your order {notification.order_id} is confirmed"
        if notification.template == "order_confirmed"
        else f"Your order {notification.order_id} was cancelled"
    )
    for name, value in (("From", sender), ("Subject", subject)):
        _refuse_line_breaks(name, value)
    plain = (recipient + sender).isascii()
    message = EmailMessage(policy=PLAIN_HEADERS if plain else email.policy.default)
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = message_id
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Subject"] = subject
    if notification.template == "order_confirmed":
        total = int(notification.detail)
        text = (
            f"Thank you! Your payment was authorized and your order {notification.order_id} "
            f"is confirmed.\n\nTotal: {format_cents(total)}\n"
        )
    else:
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
        self,
        smtp_url: str,
        *,
        sender: str = DEFAULT_SENDER,
        delay_ms: Callable[[], int] = lambda: 0,
        connect: Callable[..., smtplib.SMTP] = smtplib.SMTP,
    ) -> None:
        """Refuses (UnsafeEmail) a sender that is not one address, at start rather than per email."""
        url = urlsplit(smtp_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 25
        self.sender = sender
        self.envelope_sender = _one_address("From", sender).addr_spec
        self.delay_ms = delay_ms
        self.connect = connect  # smtplib.SMTP's signature: a fake one in tests
        self._local = threading.local()  # this thread's open connection, if any

    def send(self, notification: Notification) -> None:
        """Hand the email to the SMTP server; raises OSError (smtplib errors included) on failure,
        UnsafeEmail for a notification no email may be written for (see compose)."""
        delay_ms = self.delay_ms()
        if delay_ms:
            time.sleep(delay_ms / 1000)
        message = compose(notification, self.sender)
        with client_call("smtp send", **{"server.address": self.host, "server.port": self.port}):
            for reconnected in (False, True):
                try:  # the envelope as composed: smtplib would otherwise read it from the headers
                    self._connection().send_message(
                        message, from_addr=self.envelope_sender, to_addrs=[notification.recipient]
                    )
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
            smtp = self.connect(self.host, self.port, timeout=10)
            self._local.smtp = smtp
        return smtp
