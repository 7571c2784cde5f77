"""Compose the email of a notification and send it over SMTP (SMTP_URL=smtp://host:port).

An artificial delay per email (the `notify_delay_ms` knob, see knobs.py) lets the
scaling demo show a backlog draining faster with more workers.
"""

from __future__ import annotations

import os
import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from services.notifications.knobs import Knobs
from services.notifications.model import Notification
from shared.settings import Settings

DEFAULT_SENDER = "Event-Driven Shop <orders@shop.example>"


def compose(notification: Notification, sender: str = DEFAULT_SENDER) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.recipient
    message["Message-ID"] = notification.message_id
    message["Date"] = formatdate(localtime=False, usegmt=True)
    if notification.template == "order_confirmed":
        message["Subject"] = f"Your order {notification.order_id} is confirmed"
        total = int(notification.detail)
        message.set_content(
            f"Thank you! Your payment was authorized and your order {notification.order_id} "
            f"is confirmed.\n\nTotal: {total // 100}.{total % 100:02d}\n"
        )
    else:
        message["Subject"] = f"Your order {notification.order_id} was cancelled"
        message.set_content(
            f"We are sorry: your order {notification.order_id} was cancelled "
            f"({notification.detail.replace('_', ' ')}). You have not been charged.\n"
        )
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

    @classmethod
    def from_env(cls, settings: Settings, knobs: Knobs) -> SmtpMailer:
        return cls(
            settings.smtp_url,
            sender=os.environ.get("NOTIFY_SENDER", DEFAULT_SENDER),
            delay_ms=knobs.delay_ms,
        )

    def send(self, notification: Notification) -> None:
        """Hand the email to the SMTP server; raises OSError (smtplib errors included) on failure."""
        delay_ms = self.delay_ms()
        if delay_ms:
            time.sleep(delay_ms / 1000)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(compose(notification, self.sender))
