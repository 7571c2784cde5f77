"""The Redis store and read API of notifications, on the real Redis inside a sandbox prefix."""

from __future__ import annotations

from typing import Any

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.notifications.app import create_app
from services.notifications.model import SendInProgress
from services.notifications.store import RedisNotifications
from shared.settings import Settings
from tests.integration.notifications.conftest import cancellation, confirmation, sample_order_id
from tests.support.events import ORDER_ID


def test_a_notification_is_stored_once_and_found_by_its_order(redis: Redis, settings: Settings) -> None:
    store = RedisNotifications(redis, settings)
    notification = confirmation()

    assert store.add(notification)
    assert not store.add(notification)
    store.add(confirmation(sample_order_id(2)))

    assert store.get(notification.notification_id) == notification
    assert store.for_order(ORDER_ID) == [notification]
    assert store.for_order(sample_order_id(404)) == []


def test_sent_and_published_are_recorded(redis: Redis, settings: Settings) -> None:
    store = RedisNotifications(redis, settings)
    notification = cancellation()
    store.add(notification)

    store.mark_sent(notification.notification_id)
    store.mark_published(notification.notification_id)

    stored = store.get(notification.notification_id)
    assert (stored.status, stored.published) == ("sent", True)


class RedisAwayFor:
    """The real Redis, unreachable for its first `failures` writes (a restart under way)."""

    def __init__(self, redis: Redis, failures: int) -> None:
        self._redis, self.failures = redis, failures

    def __getattr__(self, name: str) -> Any:  # every other command: Redis itself
        return getattr(self._redis, name)

    def hset(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("Error 111 connecting to redis:6379. Connection refused.")
        return self._redis.hset(*args, **kwargs)


def test_an_email_already_sent_is_recorded_through_a_redis_outage(redis: Redis, settings: Settings) -> None:
    notification = confirmation()
    RedisNotifications(redis, settings).add(notification)
    away = RedisAwayFor(redis, failures=4)  # more than redis-py's own three retries

    RedisNotifications(away, settings).mark_sent(notification.notification_id)

    assert away.failures == 0
    assert RedisNotifications(redis, settings).get(notification.notification_id).status == "sent"


def test_a_claim_is_exclusive_and_released_after_use(redis: Redis, settings: Settings) -> None:
    store = RedisNotifications(redis, settings)
    notification = confirmation()
    store.add(notification)
    with store.claim(notification.notification_id) as claimed:
        assert claimed == notification  # read under the claim, in the same round trip
        with pytest.raises(SendInProgress), store.claim(notification.notification_id):
            pass
    with store.claim(notification.notification_id):
        pass


def test_the_read_api_lists_the_notifications_of_an_order(settings: Settings) -> None:
    client = create_app({"TESTING": True}).test_client()
    notification = confirmation()
    client.application.extensions["notifications"].add(notification)

    body = client.get(f"/api/notifications?order_id={ORDER_ID}").get_json()

    assert body["order_id"] == ORDER_ID
    [shown] = body["notifications"]
    assert shown["notification_id"] == notification.notification_id
    assert (shown["template"], shown["status"], shown["channel"]) == ("order_confirmed", "queued", "email")
    assert client.get(f"/api/notifications?order_id={sample_order_id(2)}").get_json()["notifications"] == []
    missing = client.get("/api/notifications")
    assert missing.status_code == 400
    assert missing.get_json()["field"] == "order_id"
