"""Orders settles an order only on a `payment.authorized` from the payments user, for the
order's amount; anything else lands in `orders.dlq` and changes nothing.

The real orders consumer (its bootstrap's handlers) connected as the orders user, real
RabbitMQ and Redis in a sandbox.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pika
import pytest
from redis import Redis

from harness.sandbox import Sandbox
from harness.waiting import wait_until
from services.dashboard.dead_letters import DeadLetterQueues, describe
from services.orders import handlers
from services.orders.bootstrap import bootstrap
from services.orders.commands import PlaceOrder
from services.orders.model import Order, OrderStatus
from services.orders.settings import OrdersSettings
from services.orders.store import OrderStore
from shared.consumer import EventConsumer
from shared.contract import publisher_users
from shared.envelope import Event
from shared.publisher import Publisher
from shared.replay import read_log
from tests.support.events import of_type


@pytest.fixture
def settings(shop_topology: Sandbox) -> OrdersSettings:
    return OrdersSettings(
        service="orders",
        amqp_url=shop_topology.amqp_url_for("orders"),
        redis_url=shop_topology.redis_url_for("orders"),
        redis_prefix=shop_topology.redis_prefix,
    )


@pytest.fixture
def store(settings: OrdersSettings) -> Iterator[OrderStore]:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    consumer = EventConsumer("orders", bootstrap(settings, redis).events, settings, workers=0)
    thread = threading.Thread(target=consumer.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    yield OrderStore(redis, settings)
    consumer.stop()
    thread.join(timeout=35)
    redis.close()


@pytest.fixture
def publish_as(sandbox: Sandbox) -> Iterator:
    publishers: list[Publisher] = []

    def publish(url: str, event: Event) -> None:
        publishers.append(Publisher(url, name="test"))
        publishers[-1].publish(event)

    yield publish
    for publisher in publishers:
        publisher.close()


def pending_order(store: OrderStore) -> Order:
    items = [{"sku": "MUG-CERAMIC", "qty": 1}]
    command = PlaceOrder.model_validate(
        {"customer_email": "ada@example.com", "items": items, "payment_token": "tok_visa"}
    )
    return handlers.place_order(command, store).order


def authorization(order: Order, **data: object) -> Event:
    paid = {"order_id": order.id, "amount_cents": order.total_cents, "currency": order.currency}
    return of_type("payment.authorized", **{**paid, **data})


def parked(sandbox: Sandbox, count: int) -> list:
    """The dead letters in orders.dlq, once there are `count`, taken off the queue."""
    connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url))
    channel = connection.channel()
    try:
        depth = lambda: channel.queue_declare("orders.dlq", passive=True).method.message_count  # noqa: E731
        wait_until(lambda: depth() >= count, 15, what=f"{count} dead letters in orders.dlq")
        letters = []
        while (message := channel.basic_get("orders.dlq", auto_ack=True))[0] is not None:
            letters.append(describe(message[1].headers, message[2], message[1].message_id))
        return letters
    finally:
        connection.close()


def test_an_authorization_from_anyone_but_payments_confirms_nothing(
    sandbox: Sandbox, store: OrderStore, publish_as
) -> None:
    order = pending_order(store)

    publish_as(sandbox.amqp_url, authorization(order))  # the administrator: it may route anything

    [letter] = parked(sandbox, 1)
    assert (letter.reason, letter.order_id) == ("forged", order.id)
    assert "'guest'" in letter.error
    assert store.get(order.id).status is OrderStatus.PENDING
    # the log keeps it, but a reader of history (loyalty's backfill) skips it
    senders = publisher_users(sandbox.user("loyalty"), "loyalty")
    assert [e.subject for _offset, e in read_log(sandbox.amqp_url, "first")] == [order.id]
    assert list(read_log(sandbox.amqp_url, "first", senders=senders)) == []


def test_a_replay_does_not_launder_a_forged_event(sandbox: Sandbox, store: OrderStore, publish_as) -> None:
    """Loyalty may park a message in orders.dlq (shop.dlx is writable for parking), and the
    dashboard replays it; it comes back still signed by loyalty, and is refused again."""
    order = pending_order(store)
    forged = authorization(order)
    connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url_for("loyalty")))
    channel = connection.channel()
    channel.confirm_delivery()
    headers = {"x-death-reason": "exhausted"}
    properties = pika.BasicProperties(user_id=sandbox.user("loyalty"), message_id=forged.id, headers=headers)
    channel.basic_publish("shop.dlx", "orders", forged.to_json(), properties, mandatory=True)
    connection.close()

    assert DeadLetterQueues(sandbox.amqp_url_for("dashboard")).replay("orders") == 1

    [letter] = parked(sandbox, 1)
    assert letter.reason == "forged"
    assert letter.replays == 1
    assert store.get(order.id).status is OrderStatus.PENDING


@pytest.mark.parametrize("wrong", [{"amount_cents": 1}, {"currency": "USD"}])
def test_an_authorization_of_the_wrong_amount_confirms_nothing(
    sandbox: Sandbox, store: OrderStore, publish_as, wrong: dict
) -> None:
    order = pending_order(store)

    publish_as(sandbox.amqp_url_for("payments"), authorization(order, **wrong))

    [letter] = parked(sandbox, 1)
    assert letter.reason == "rejected"
    assert "nothing confirmed" in letter.error
    assert store.get(order.id).status is OrderStatus.PENDING


def test_the_payments_user_s_authorization_of_the_total_confirms(
    sandbox: Sandbox, store: OrderStore, publish_as
) -> None:
    order = pending_order(store)

    publish_as(sandbox.amqp_url_for("payments"), authorization(order))

    wait_until(lambda: store.get(order.id).status is OrderStatus.CONFIRMED, 15, what="order confirmed")
