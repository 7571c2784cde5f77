"""Fixtures for the bus tests: a service called `bustest` living inside the test's sandbox."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pytest
from redis import Redis

from harness.sandbox import REDIS_URL, Sandbox
from shared import topology
from shared.consumer import EventConsumer, Handler
from shared.envelope import Event
from shared.idempotency import apply_once
from shared.publisher import Publisher
from shared.settings import Settings
from tests.support import events

SERVICE = "bustest"
_order_numbers = itertools.count(1)


def order_placed(order_id: str | None = None) -> Event:
    """A new order each call (its own id), unless `order_id` names one."""
    return events.order_placed(order_id=order_id or str(uuid.UUID(int=next(_order_numbers))))


def record_with_apply_once(redis: Redis, settings: Settings, event: Event) -> None:
    """The reference effect: append the event id to a list, once per event."""
    apply_once(
        redis,
        settings.key("processed", event.id),
        lambda tx: tx.rpush(settings.key("effects"), event.id),
    )


@dataclass
class Broker:
    """Small admin helpers on the sandbox's vhost."""

    amqp_url: str

    def _channel_call(self, action: Callable[[Any], Any]) -> Any:
        connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        try:
            return action(connection.channel())
        finally:
            connection.close()

    def declare(self, event_types: tuple[str, ...] = ("order.placed",), service: str = SERVICE) -> None:
        topology.apply(self.amqp_url, topology.service_topology(service, list(event_types)))

    def depth(self, queue: str) -> int:
        """Messages ready in the queue (unacked ones are not counted)."""
        return self._channel_call(lambda ch: ch.queue_declare(queue, passive=True).method.message_count)

    def consumers(self, queue: str) -> int:
        return self._channel_call(lambda ch: ch.queue_declare(queue, passive=True).method.consumer_count)

    def drain(self, queue: str) -> list[tuple[pika.BasicProperties, bytes]]:
        """Take every ready message off a queue (ack), oldest first."""

        def take(channel: Any) -> list[tuple[pika.BasicProperties, bytes]]:
            taken = []
            while True:
                method, props, body = channel.basic_get(queue, auto_ack=True)
                if method is None:
                    return taken
                taken.append((props, body))

        return self._channel_call(take)


@pytest.fixture
def broker(sandbox: Sandbox) -> Broker:
    return Broker(sandbox.amqp_url)


@pytest.fixture
def settings(sandbox: Sandbox) -> Settings:
    return Settings(
        service=SERVICE,
        amqp_url=sandbox.amqp_url,
        redis_url=REDIS_URL,
        redis_prefix=sandbox.redis_prefix,
    )


@pytest.fixture
def redis_client() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def publisher(sandbox: Sandbox) -> Iterator[Publisher]:
    pub = Publisher(sandbox.amqp_url, name="test-publisher")
    yield pub
    pub.close()


@pytest.fixture
def start_consumer(settings: Settings, broker: Broker) -> Iterator[Callable[..., EventConsumer]]:
    """Run EventConsumers in threads (as replicas do in processes); all stopped at teardown."""
    running: list[tuple[EventConsumer, threading.Thread]] = []

    def start(handlers: dict[str, Handler], **options: Any) -> EventConsumer:
        consumer = EventConsumer(SERVICE, handlers, settings, **options)
        thread = threading.Thread(target=consumer.run, kwargs={"install_signal_handlers": False}, daemon=True)
        thread.start()
        running.append((consumer, thread))
        return consumer

    yield start
    for consumer, _thread in running:
        consumer.stop()
    for _consumer, thread in running:
        thread.join(timeout=35)
        assert not thread.is_alive(), "consumer did not stop"
