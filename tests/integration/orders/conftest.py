"""Orders against the real Redis (and broker), inside the test's sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from harness.sandbox import REDIS_URL, Sandbox
from services.orders.settings import OrdersSettings
from services.orders.store import OrderStore, Outbox
from tests.support.bus import BusObserver


@pytest.fixture
def settings(sandbox: Sandbox) -> OrdersSettings:
    return OrdersSettings(
        service="orders", amqp_url=sandbox.amqp_url, redis_url=REDIS_URL, redis_prefix=sandbox.redis_prefix
    )


@pytest.fixture
def redis(settings: OrdersSettings) -> Iterator[Redis]:
    client = Redis.from_url(settings.redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(redis: Redis, settings: OrdersSettings) -> OrderStore:
    return OrderStore(redis, settings)


@pytest.fixture
def outbox(redis: Redis, settings: OrdersSettings) -> Outbox:
    return Outbox(redis, settings)


@pytest.fixture
def bus(sandbox: Sandbox) -> Iterator[BusObserver]:
    observer = BusObserver(sandbox.amqp_url)
    yield observer
    observer.close()
