"""An in-memory stand-in for the notification store, and an SMTP connection that keeps what it would send."""

from __future__ import annotations

import contextlib
import dataclasses
import smtplib
from collections.abc import Iterator

from services.notifications.model import SENT, Notification, SendInProgress
from shared.envelope import Cause
from tests.support.events import ORDER_ID

# Exactly the headers of an email the shop writes, in order: no input may add one.
HEADERS = [
    "From",
    "To",
    "Message-ID",
    "Date",
    "Subject",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
]


class FakeNotifications:
    def __init__(self) -> None:
        self.notifications: dict[str, Notification] = {}
        self.claimed: set[str] = set()

    def add(self, notification: Notification) -> bool:
        if notification.notification_id in self.notifications:
            return False
        self.notifications[notification.notification_id] = notification
        return True

    def get(self, notification_id: str) -> Notification | None:
        return self.notifications.get(notification_id)

    def for_order(self, order_id: str) -> list[Notification]:
        return [n for n in self.notifications.values() if n.order_id == order_id]

    def mark_sent(self, notification_id: str) -> None:
        self._update(notification_id, status=SENT)

    def mark_published(self, notification_id: str) -> None:
        self._update(notification_id, published=True)

    def _update(self, notification_id: str, **changes: object) -> None:
        self.notifications[notification_id] = dataclasses.replace(
            self.notifications[notification_id], **changes
        )

    @contextlib.contextmanager
    def claim(self, notification_id: str) -> Iterator[Notification | None]:
        if notification_id in self.claimed:
            raise SendInProgress(notification_id)
        self.claimed.add(notification_id)
        try:
            yield self.get(notification_id)
        finally:
            self.claimed.discard(notification_id)


class RecordingSmtp(smtplib.SMTP):
    """smtplib's own client (send_message picks the envelope, sendmail writes the commands)
    talking to no server: the command lines and the messages it would send are kept."""

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        super().__init__()  # no host: not connected
        self.ehlo_resp, self.does_esmtp = b"fake", True  # as if greeted by a server with SMTPUTF8
        self.esmtp_features = {"smtputf8": "", "8bitmime": ""}
        self.commands: list[bytes] = []
        self.messages: list[bytes] = []

    def send(self, s: str | bytes) -> None:
        self.commands.append(s.encode(self.command_encoding) if isinstance(s, str) else s)

    def getreply(self) -> tuple[int, bytes]:
        return 250, b"ok"

    def data(self, msg: bytes) -> tuple[int, bytes]:  # type: ignore[override]
        self.messages.append(msg)
        return 250, b"ok"

    def envelope(self, verb: bytes) -> list[bytes]:
        """The arguments of the `verb` commands sent (b"mail FROM:", b"rcpt TO:")."""
        return [line.removeprefix(verb).rstrip(b"\r\n") for line in self.commands if line.startswith(verb)]


def notification(
    template: str = "order_confirmed",
    *,
    order_id: str = ORDER_ID,
    recipient: str = "ada@example.com",
    detail: str = "2505",
) -> Notification:
    return Notification(
        notification_id="00000000-0000-4000-8000-0000000000b1",
        order_id=order_id,
        template=template,
        recipient=recipient,
        detail=detail,
        cause=Cause("correlation", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    )
