"""Publish -> confirm -> consume, and what the publisher refuses."""

from __future__ import annotations

import pika
import pytest

from harness.waiting import wait_until
from infra.dev.grants import MAX_MESSAGE_BYTES
from shared.envelope import Event, InvalidEvent, new_event
from shared.metrics import PROCESS_REGISTRY
from shared.publisher import Message, Publisher, PublishError, Unroutable
from shared.topology import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE
from tests.integration.bus.conftest import SERVICE, Broker, order_placed


def test_a_confirmed_event_reaches_the_handler_intact(broker: Broker, publisher: Publisher, start_consumer):
    broker.declare()
    received: list[Event] = []
    start_consumer({"order.placed": received.append})
    wait_until(lambda: broker.consumers(SERVICE) == 1, what="consumer subscribed")

    sent = order_placed()
    publisher.publish(sent)

    wait_until(lambda: received, what="event handled")
    assert received == [sent]
    wait_until(lambda: broker.depth(SERVICE) == 0, what="queue empty")


# handlers on a pool, or on the connection's thread (workers=0) for quick handlers
HANDLER_THREADS = pytest.mark.parametrize("workers", [4, 0], ids=["pool", "inline"])


@HANDLER_THREADS
def test_many_events_in_flight_are_all_confirmed_and_consumed(
    broker: Broker, publisher: Publisher, start_consumer, workers: int
):
    broker.declare()
    received: set[str] = set()
    start_consumer({"order.placed": lambda e: received.add(e.id)}, prefetch=100, workers=workers)
    events = [order_placed() for _ in range(500)]

    publisher.publish_many(events)

    wait_until(lambda: len(received) == len(events), what="all events handled")
    assert received == {e.id for e in events}


def published(routing_key: str) -> float:
    return PROCESS_REGISTRY.get_sample_value("shop_events_published_total", {"type": routing_key}) or 0.0


def test_events_confirmed_are_counted_by_type_and_other_messages_are_not(
    broker: Broker, publisher: Publisher
):
    broker.declare()
    before = published("order.placed")
    not_an_event = Message(
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=SERVICE,  # the service's DLQ, as a consumer parks a message
        body=b"{}",
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
    )

    publisher.publish_many([order_placed(), order_placed()])
    publisher.send_many([not_an_event])

    assert published("order.placed") == before + 2
    assert published(SERVICE) == 0


def test_an_unroutable_message_raises_instead_of_being_dropped(broker: Broker, publisher: Publisher):
    broker.declare()
    nobody_listens = Message(
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key="no-such-service",
        body=b"{}",
        properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent),
    )

    with pytest.raises(Unroutable, match="no-such-service"):
        publisher.send_many([nobody_listens])

    publisher.publish(order_placed())  # the publisher stays usable afterwards


def test_unknown_type_or_invalid_data_is_refused_before_anything_is_sent(broker: Broker):
    broker.declare()
    with pytest.raises(InvalidEvent, match=r"unknown event type 'order\.shipped'"):
        new_event("order.shipped", {"order_id": "o-1"}, source="orders")
    with pytest.raises(InvalidEvent, match="total_cents"):
        new_event(
            "order.placed",
            {**order_placed().data.model_dump(), "total_cents": -1},
            source="orders",
        )
    assert broker.depth(SERVICE) == 0


def test_publishing_to_a_missing_exchange_fails_fast(broker: Broker, publisher: Publisher):
    broker.declare()
    lost = Message("no.such.exchange", "order.placed", b"{}", pika.BasicProperties(delivery_mode=2))

    with pytest.raises(PublishError, match="NOT_FOUND"):
        publisher.send_many([lost], timeout=10)

    publisher.publish(order_placed())  # a fresh channel took over


def test_a_message_above_the_broker_s_size_limit_is_refused(broker: Broker):
    """The broker's max_message_size (1 MiB, set on the local node by the sandbox's grants)."""
    broker.declare()
    connection = pika.BlockingConnection(pika.URLParameters(broker.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="max size"):
            channel.basic_publish(EVENTS_EXCHANGE, "order.placed", b"x" * (MAX_MESSAGE_BYTES + 1))
    finally:
        connection.close()
    assert broker.depth(SERVICE) == 0
