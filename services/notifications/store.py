"""Notifications in the service's own Redis: one hash each, plus a set per order.

A notification is stored once per order outcome, and sent under a short claim, so a
duplicate task waits instead of sending in parallel. The claim is a lease: if its holder
dies it expires, and a redelivery of the task takes over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

import tenacity
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.notifications.model import SENT, Notification, SendInProgress
from shared.envelope import Cause
from shared.idempotency import AddIfAbsent, Lease
from shared.settings import Settings

CLAIM_LEASE_S = 30
# Once the email is out, failing to record it would send it again on the task's retry: the record
# rides out a Redis outage (a restart, a failover) for most of the claim, which keeps any other
# task from sending meanwhile. redis-py's own retries give up after a few seconds.
RECORD_SENT_WITHIN_S = CLAIM_LEASE_S - 5


class NotificationStore(Protocol):
    def add(self, notification: Notification) -> bool: ...
    def get(self, notification_id: str) -> Notification | None: ...
    def for_order(self, order_id: str) -> list[Notification]: ...
    def mark_sent(self, notification_id: str) -> None: ...
    def mark_published(self, notification_id: str) -> None: ...
    def claim(self, notification_id: str) -> contextlib.AbstractContextManager[Notification | None]: ...


class RedisNotifications:
    def __init__(self, redis: Redis, settings: Settings, lease_s: int = CLAIM_LEASE_S) -> None:
        self._redis = redis
        self._settings = settings
        self._add = AddIfAbsent(redis)
        self._lease = Lease(redis, lease_s)

    def _key(self, notification_id: str, *parts: str) -> str:
        return self._settings.key("notification", notification_id, *parts)

    def add(self, notification: Notification) -> bool:
        """Store a new notification; False if it is already known."""
        fields = {
            "notification_id": notification.notification_id,
            "order_id": notification.order_id,
            "template": notification.template,
            "recipient": notification.recipient,
            "detail": notification.detail,
            **notification.cause.to_fields(),
            "placed_at": notification.placed_at.isoformat() if notification.placed_at else "",
            "status": notification.status,
        }
        index = self._settings.key("order", notification.order_id)
        return self._add(self._key(notification.notification_id), fields, index=index)

    def get(self, notification_id: str) -> Notification | None:
        return _notification(self._redis.hgetall(self._key(notification_id)))

    def for_order(self, order_id: str) -> list[Notification]:
        keys = sorted(self._redis.smembers(self._settings.key("order", order_id)))
        with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            found = [_notification(raw) for raw in pipe.execute()]
        return [n for n in found if n is not None]

    def mark_sent(self, notification_id: str) -> None:
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception_type((RedisConnectionError, RedisTimeoutError)),
            stop=tenacity.stop_after_delay(RECORD_SENT_WITHIN_S),
            wait=tenacity.wait_exponential(multiplier=0.1, max=2),
            reraise=True,
        ):
            with attempt:
                self._redis.hset(self._key(notification_id), "status", SENT)

    def mark_published(self, notification_id: str) -> None:
        self._redis.hset(self._key(notification_id), "published", "1")

    @contextlib.contextmanager
    def claim(self, notification_id: str) -> Iterator[Notification | None]:
        """Hold the notification for one task; yields it as read under the claim."""
        busy = SendInProgress(f"notification {notification_id} is being sent by another task")
        key = self._key(notification_id)
        claim = self._settings.key("notification-claim", notification_id)  # no id can name another's
        with self._lease.hold(claim, busy, read=key) as raw:
            yield _notification(raw)


def _notification(raw: dict[str, str]) -> Notification | None:
    if not raw:
        return None
    return Notification(
        notification_id=raw["notification_id"],
        order_id=raw["order_id"],
        template=raw["template"],
        recipient=raw["recipient"],
        detail=raw["detail"],
        cause=Cause.from_fields(raw),
        placed_at=datetime.fromisoformat(raw["placed_at"]) if raw.get("placed_at") else None,
        status=raw["status"],
        published=raw.get("published") == "1",
    )
