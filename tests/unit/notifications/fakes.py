"""An in-memory stand-in for the notification store."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from services.notifications.model import SENT, Notification, SendInProgress


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
