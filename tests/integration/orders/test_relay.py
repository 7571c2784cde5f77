"""The outbox relay on the real broker: published with confirms, then removed; a relay that
dies at any point loses nothing, and what it republishes carries the same event ids."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from redis import Redis

from harness.sandbox import Sandbox
from harness.waiting import wait_until
from services.orders import handlers
from services.orders.commands import PlaceOrder
from services.orders.relay import OutboxRelay
from services.orders.store import OUTBOX_GROUP, OrderStore, Outbox
from shared.envelope import Event, decode
from shared.publisher import Publisher
from shared.settings import Settings
from tests.support.bus import BusObserver


class Died(Exception):
    """Stands for the relay process dying at this point."""


class DiesBeforePublishing:
    def publish_many(self, events: list[Event]) -> None:
        raise Died


class DiesAfterPublishing:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    def publish_many(self, events: list[Event]) -> None:
        self.publisher.publish_many(events)
        raise Died


@pytest.fixture
def publisher(sandbox: Sandbox, bus: BusObserver) -> Iterator[Publisher]:
    """Created after the observer, which declares the exchange and the event log."""
    confirmed = Publisher(sandbox.amqp_url, name="test-relay")
    yield confirmed
    confirmed.close()


# Long enough that no relay of a test takes over pending entries unless the test says so.
NO_TAKEOVER_MS = 60_000


def relay_named(
    name: str,
    outbox: Outbox,
    publisher: object,
    *,
    batch_size: int = 500,
    claim_idle_ms: int = NO_TAKEOVER_MS,
) -> OutboxRelay:
    return OutboxRelay(
        outbox, publisher, name=name, batch_size=batch_size, claim_idle_ms=claim_idle_ms, block_ms=100
    )


def place_orders(store: OrderStore, count: int) -> list[str]:
    command = PlaceOrder.model_validate(
        {
            "customer_email": "ada@example.com",
            "items": [{"sku": "MUG-CERAMIC", "qty": 1}],
            "payment_token": "tok_visa",
        }
    )
    return [handlers.place_order(command, store).order.id for _ in range(count)]


def stored_event_ids(redis: Redis, settings: Settings) -> set[str]:
    return {decode(fields["event"].encode()).id for _id, fields in redis.xrange(settings.key("outbox"))}


def outbox_is_empty(redis: Redis, settings: Settings) -> bool:
    stream = settings.key("outbox")
    return redis.xlen(stream) == 0 and redis.xpending(stream, OUTBOX_GROUP)["pending"] == 0


def running(relay: OutboxRelay) -> threading.Thread:
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    return thread


def stop(relay: OutboxRelay, thread: threading.Thread) -> None:
    relay.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_relay_publishes_each_entry_with_confirms_then_removes_it(
    store: OrderStore,
    outbox: Outbox,
    redis: Redis,
    settings: Settings,
    publisher: Publisher,
    bus: BusObserver,
) -> None:
    order_ids = place_orders(store, 30)
    event_ids = stored_event_ids(redis, settings)
    relay = relay_named("relay-a", outbox, publisher, batch_size=8)
    thread = running(relay)
    try:
        bus.wait_for("order.placed", 30)
        wait_until(lambda: outbox_is_empty(redis, settings), 10, what="outbox settled")
    finally:
        stop(relay, thread)

    placed = bus.of_type("order.placed")
    assert {e.id for e in placed} == event_ids
    assert [e.subject for e in placed] == order_ids  # one relay keeps the outbox order
    assert redis.xinfo_consumers(settings.key("outbox"), OUTBOX_GROUP) == []  # left the group on stop


def test_entries_read_by_a_relay_that_died_before_publishing_are_taken_over(
    store: OrderStore,
    outbox: Outbox,
    redis: Redis,
    settings: Settings,
    publisher: Publisher,
    bus: BusObserver,
) -> None:
    place_orders(store, 5)
    event_ids = stored_event_ids(redis, settings)
    dying = relay_named("relay-a", outbox, DiesBeforePublishing())
    outbox.ensure_group()
    with pytest.raises(Died):
        dying.relay(outbox.read_new("relay-a", count=100, block_ms=100))
    assert bus.of_type("order.placed") == []

    survivor = relay_named("relay-b", outbox, publisher, claim_idle_ms=200)
    thread = running(survivor)
    try:
        bus.wait_for("order.placed", 5)
        wait_until(lambda: outbox_is_empty(redis, settings), 10, what="outbox settled")
    finally:
        stop(survivor, thread)

    assert bus.ids_by_count("order.placed") == dict.fromkeys(event_ids, 1)


def test_a_relay_that_died_after_publishing_leaves_duplicates_with_the_same_ids_never_a_loss(
    store: OrderStore,
    outbox: Outbox,
    redis: Redis,
    settings: Settings,
    publisher: Publisher,
    bus: BusObserver,
) -> None:
    place_orders(store, 5)
    event_ids = stored_event_ids(redis, settings)
    dying = relay_named("relay-a", outbox, DiesAfterPublishing(publisher))
    outbox.ensure_group()
    with pytest.raises(Died):
        dying.relay(outbox.read_new("relay-a", count=100, block_ms=100))
    bus.wait_for("order.placed", 5)

    restarted = relay_named("relay-a2", outbox, publisher, claim_idle_ms=200)
    thread = running(restarted)
    try:
        bus.wait_for("order.placed", 10)
        wait_until(lambda: outbox_is_empty(redis, settings), 10, what="outbox settled")
    finally:
        stop(restarted, thread)

    assert bus.ids_by_count("order.placed") == dict.fromkeys(event_ids, 2)


def test_orders_stored_while_no_relay_runs_are_published_when_one_starts(
    store: OrderStore,
    outbox: Outbox,
    redis: Redis,
    settings: Settings,
    publisher: Publisher,
    bus: BusObserver,
) -> None:
    place_orders(store, 3)  # before the consumer group exists
    event_ids = stored_event_ids(redis, settings)

    relay = relay_named("relay-a", outbox, publisher)
    thread = running(relay)
    try:
        bus.wait_for("order.placed", 3)
        place_orders(store, 2)
        bus.wait_for("order.placed", 5)
    finally:
        stop(relay, thread)

    assert event_ids <= set(bus.ids_by_count("order.placed"))


def test_an_entry_that_is_not_a_valid_event_is_parked_with_the_reason_and_the_rest_flows(
    store: OrderStore,
    outbox: Outbox,
    redis: Redis,
    settings: Settings,
    publisher: Publisher,
    bus: BusObserver,
) -> None:
    place_orders(store, 1)
    redis.xadd(settings.key("outbox"), {"type": "order.placed", "event": '{"type": "order.placed"}'})
    place_orders(store, 1)

    relay = relay_named("relay-a", outbox, publisher)
    thread = running(relay)
    try:
        bus.wait_for("order.placed", 2)
        wait_until(lambda: outbox_is_empty(redis, settings), 10, what="outbox settled")
    finally:
        stop(relay, thread)

    [(_id, parked)] = redis.xrange(settings.key("outbox", "dead"))
    assert parked["event"] == '{"type": "order.placed"}'
    assert "invalid data for order.placed" in parked["reason"]
