"""Loyalty joins late: it backfills from the event log, then keeps up live, and counts
each order once even when an event reaches it through both paths."""

from __future__ import annotations

import json
import threading
import uuid

import pika
import pytest

from harness.sandbox import REDIS_URL, Sandbox, rabbitmqctl
from harness.waiting import wait_until
from services.loyalty.bootstrap import bootstrap
from services.loyalty.consumer import backfill, declare_own_queue
from services.loyalty.points import LoyaltyStore
from shared import topology
from shared.bootstrap import Handler
from shared.consumer import EventConsumer, PermanentError
from shared.envelope import Event, new_event
from shared.publisher import Message, Publisher
from shared.settings import Settings


def confirmed(n: int, email: str = "grace@example.com"):
    data = {"order_id": str(uuid.UUID(int=n)), "customer_email": email, "total_cents": 1000 * n}
    return new_event("order.confirmed", data, source="orders")


@pytest.fixture
def settings(sandbox: Sandbox) -> Settings:
    return Settings(
        service="loyalty", amqp_url=sandbox.amqp_url, redis_url=REDIS_URL, redis_prefix=sandbox.redis_prefix
    )


def wired(settings: Settings) -> tuple[LoyaltyStore, dict[str, Handler]]:
    """The store and the handlers as the loyalty consumer wires them: the handlers write to that store."""
    redis = settings.connect_redis()
    store = LoyaltyStore(redis, settings)
    return store, dict(bootstrap(settings, redis, store=store).events)


def test_backfill_then_live_counts_every_order_once(sandbox: Sandbox, settings: Settings) -> None:
    declare_shared_topology(sandbox)
    publisher = Publisher(sandbox.amqp_url)
    publisher.publish_many([confirmed(n) for n in (1, 2, 3)])  # before loyalty existed: log only

    store, handlers = wired(settings)
    declare_own_queue(sandbox.amqp_url, list(handlers))
    publisher.publish_many([confirmed(n) for n in (4, 5)])  # in the log AND in loyalty's queue

    assert backfill(sandbox.amqp_url, store, handlers) == 5
    consumer = EventConsumer("loyalty", handlers, settings)
    thread = threading.Thread(target=consumer.run, kwargs={"install_signal_handlers": False})
    thread.start()
    try:
        publisher.publish(confirmed(6))  # live only
        expected_points = sum(10 * n for n in range(1, 7))
        wait_until(lambda: store.account("grace@example.com")["orders_confirmed"] == 6, 15, what="six orders")
        wait_until(lambda: _queue_empty(sandbox), 15, what="loyalty queue drained")
    finally:
        consumer.stop()
        thread.join(timeout=30)
        publisher.close()
    assert store.account("grace@example.com") == {
        "points": expected_points,
        "orders_placed": 0,
        "orders_confirmed": 6,
    }


def declare_shared_topology(sandbox: Sandbox) -> None:
    topology.apply(sandbox.amqp_url, topology.shared_topology())


def _queue_empty(sandbox: Sandbox) -> bool:
    out = rabbitmqctl("list_queues", "-p", sandbox.vhost, "name", "messages")
    return any(line.split("\t") == ["loyalty", "0"] for line in out.splitlines())


def test_backfill_stops_where_the_live_queue_takes_over(sandbox: Sandbox, settings: Settings) -> None:
    """Under steady traffic the log never goes quiet: the backfill ends at `until`."""
    declare_shared_topology(sandbox)
    publisher = Publisher(sandbox.amqp_url)
    events = [confirmed(n) for n in (1, 2, 3)]
    try:
        publisher.publish_many(events)
    finally:
        publisher.close()
    store, handlers = wired(settings)

    assert backfill(sandbox.amqp_url, store, handlers, until=events[1].time) == 2
    assert store.account("grace@example.com")["orders_confirmed"] == 2


def test_what_the_backfill_cannot_handle_is_parked_and_the_backfill_goes_on(
    sandbox: Sandbox, settings: Settings
) -> None:
    """Finding 2: a total of 2^63 points made HINCRBY fail inside the backfill, which had no error
    handling and checkpointed only there: loyalty crashed on every start while the log kept it."""
    declare_shared_topology(sandbox)
    store, handlers = wired(settings)
    declare_own_queue(sandbox.amqp_url, list(handlers))
    overflowing = json.loads(confirmed(2).to_json())
    overflowing["data"]["total_cents"] = 2**63 * 100  # 2^63 points
    refused = confirmed(3)

    def refuse_one(event: Event) -> None:
        if event.id == refused.id:
            raise PermanentError("not this one")
        handlers["order.confirmed"](event)

    publisher = Publisher(sandbox.amqp_url)
    try:
        publisher.publish(confirmed(1))
        publisher.send_many([raw(overflowing)])
        publisher.publish_many([refused, confirmed(4)])
    finally:
        publisher.close()

    assert backfill(sandbox.amqp_url, store, {"order.confirmed": refuse_one}) == 2
    assert store.account("grace@example.com")["points"] == 10 + 40
    parked = drain(sandbox, topology.dead_letter_queue("loyalty"))
    assert [(props.headers["x-death-reason"], json.loads(body)["id"]) for props, body in parked] == [
        ("invalid", overflowing["id"]),
        ("rejected", refused.id),
    ]
    assert "total_cents" in parked[0][0].headers["x-error"]
    assert backfill(sandbox.amqp_url, store, handlers) == 0  # checkpointed past all four
    assert drain(sandbox, topology.dead_letter_queue("loyalty")) == []


def raw(body: dict) -> Message:
    """A message as a publisher that skips the contract would send it."""
    return Message(topology.EVENTS_EXCHANGE, body["type"], json.dumps(body).encode(), pika.BasicProperties())


def drain(sandbox: Sandbox, queue: str) -> list[tuple[pika.BasicProperties, bytes]]:
    connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url))
    try:
        channel = connection.channel()
        taken = []
        while (message := channel.basic_get(queue, auto_ack=True))[0] is not None:
            taken.append((message[1], message[2]))
        return taken
    finally:
        connection.close()


def test_an_entry_its_owner_did_not_publish_is_parked_as_forged_and_unvouched(
    sandbox: Sandbox, settings: Settings
) -> None:
    declare_shared_topology(sandbox)
    store, handlers = wired(settings)
    declare_own_queue(sandbox.amqp_url, list(handlers))
    publisher = Publisher(sandbox.amqp_url)  # the administrator, not orders
    try:
        publisher.publish(confirmed(1))
    finally:
        publisher.close()

    assert backfill(sandbox.amqp_url, store, handlers, senders={"order.confirmed": "orders"}) == 0
    assert store.account("grace@example.com")["orders_confirmed"] == 0
    [(props, _body)] = drain(sandbox, topology.dead_letter_queue("loyalty"))
    assert props.headers["x-death-reason"] == "forged"
    assert props.user_id is None  # a replay brings it back as unvouched as it came
