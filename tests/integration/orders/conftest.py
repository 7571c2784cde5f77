"""Orders against the real Redis (and broker), inside the test's sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from harness.sandbox import REDIS_URL, Sandbox
from services.orders.store import OrderStore, Outbox
from shared.settings import Settings
from tests.support.bus import BusObserver


@pytest.fixture
def settings(sandbox: Sandbox) -> Settings:
    return Settings(
        service="orders",
        amqp_url=sandbox.amqp_url,
        redis_url=REDIS_URL,
        smtp_url="smtp://127.0.0.1:1025",
        redis_namespace=sandbox.redis_prefix + "orders",
    )


@pytest.fixture
def redis(settings: Settings) -> Iterator[Redis]:
    client = Redis.from_url(settings.redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(redis: Redis, settings: Settings) -> OrderStore:
    return OrderStore(redis, settings)


@pytest.fixture
def outbox(redis: Redis, settings: Settings) -> Outbox:
    return Outbox(redis, settings)


@pytest.fixture
def bus(sandbox: Sandbox) -> Iterator[BusObserver]:
    observer = BusObserver(sandbox.amqp_url)
    yield observer
    observer.close()
