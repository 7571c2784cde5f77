"""Failing handlers, poison messages and duplicates: bounded retries, the DLQ, one effect."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pika
import pytest
from redis import Redis

from harness.waiting import wait_until
from shared.consumer import PermanentError
from shared.envelope import Event
from shared.publisher import Message, Publisher
from shared.settings import Settings
from shared.topology import EVENTS_EXCHANGE, RETRY_DELAYS_S, dead_letter_queue
from tests.integration.bus.conftest import SERVICE, Broker, order_placed, record_with_apply_once

DLQ = dead_letter_queue(SERVICE)
FAILING = "00000000-0000-4000-8000-00000000fa11"
REFUSED = "00000000-0000-4000-8000-0000000000ef"


def raw_message(body: bytes, routing_key: str = "order.placed") -> Message:
    return Message(
        EVENTS_EXCHANGE,
        routing_key,
        body,
        pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2),
    )


@pytest.mark.slow
def test_a_failing_handler_is_retried_with_growing_delays_then_dead_lettered(
    broker: Broker, publisher: Publisher, start_consumer
):
    broker.declare()
    failing = order_placed(FAILING)
    attempts: list[float] = []
    served: list[str] = []

    def handle(event: Event) -> None:
        if event.subject == failing.subject:
            attempts.append(time.monotonic())
            raise ConnectionError("gateway timeout")
        served.append(event.id)

    start_consumer({"order.placed": handle})
    publisher.publish(failing)
    wait_until(lambda: len(attempts) == 2, timeout=10, what="first retry")
    valid = [order_placed() for _ in range(5)]
    publisher.publish_many(valid)
    wait_until(lambda: len(served) == 5, timeout=5, what="valid events served during the retries")

    [(props, body)] = wait_until(lambda: broker.drain(DLQ), timeout=45, what="dead-lettered")

    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert len(attempts) == len(RETRY_DELAYS_S) + 1
    for gap, delay in zip(gaps, RETRY_DELAYS_S, strict=True):
        assert gap >= delay * 0.9, f"retried after {gap:.2f}s, expected about {delay}s"
    assert json.loads(body)["id"] == failing.id
    assert props.headers["x-death-reason"] == "exhausted"
    assert props.headers["x-attempt"] == 4
    assert "gateway timeout" in props.headers["x-error"]
    assert set(served) == {e.id for e in valid}


@pytest.mark.parametrize("workers", [4, 0], ids=["pool", "inline"])
def test_poison_messages_go_to_the_dlq_at_once_and_the_consumer_carries_on(
    broker: Broker, publisher: Publisher, start_consumer, workers: int
):
    broker.declare()
    handled: list[str] = []

    def handle(event: Event) -> None:
        if event.subject == REFUSED:
            raise PermanentError("card number is not a card number")
        handled.append(event.id)

    start_consumer({"order.placed": handle}, workers=workers)
    wrong_schema = json.loads(order_placed().to_json())
    del wrong_schema["data"]["customer_email"]
    publisher.send_many(
        [
            raw_message(b"\xff not json"),
            raw_message(json.dumps(wrong_schema).encode()),
            raw_message(json.dumps({**wrong_schema, "type": "order.teleported"}).encode()),
        ]
    )
    publisher.publish(order_placed(REFUSED))
    valid = order_placed()
    publisher.publish(valid)

    wait_until(lambda: handled == [valid.id], what="valid event handled after the poison")
    dead = []
    wait_until(lambda: dead.extend(broker.drain(DLQ)) or len(dead) == 4, what="poison dead-lettered")

    reasons = sorted((p.headers["x-death-reason"], p.headers["x-attempt"]) for p, _ in dead)
    assert reasons == [("invalid", 1), ("invalid", 1), ("invalid", 1), ("rejected", 1)]
    errors = " | ".join(p.headers["x-error"] for p, _ in dead)
    assert "not JSON" in errors
    assert "customer_email" in errors
    assert "unknown event type 'order.teleported'" in errors
    assert "card number" in errors
    assert broker.depth(SERVICE) == 0
    assert broker.depth(DLQ) == 0  # each poison message was dead-lettered exactly once


def test_the_same_event_delivered_twice_has_one_effect(
    broker: Broker, publisher: Publisher, start_consumer, redis_client: Redis, settings: Settings
):
    broker.declare()
    finished: list[str] = []

    def handle(event: Event) -> None:
        record_with_apply_once(redis_client, settings, event)
        finished.append(event.id)

    start_consumer({"order.placed": handle})
    event = order_placed()
    publisher.publish_many([event, event])

    wait_until(lambda: len(finished) == 2, what="both deliveries handled")
    assert redis_client.lrange(settings.key("effects"), 0, -1) == [event.id]


def test_the_same_event_handled_by_two_replicas_at_once_has_one_effect(
    broker: Broker, publisher: Publisher, start_consumer, redis_client: Redis, settings: Settings
):
    broker.declare()
    both_in_handler = threading.Barrier(2, timeout=10)
    finished: list[str] = []

    def handle(event: Event) -> None:
        both_in_handler.wait()  # the two copies race for the marker at the same moment
        record_with_apply_once(redis_client, settings, event)
        finished.append(threading.current_thread().name)

    start_consumer({"order.placed": handle}, prefetch=1, workers=1)
    start_consumer({"order.placed": handle}, prefetch=1, workers=1)
    wait_until(lambda: broker.consumers(SERVICE) == 2, what="two replicas subscribed")
    event = order_placed()
    publisher.publish_many([event, event])

    wait_until(lambda: len(finished) == 2, what="both copies handled")
    assert redis_client.lrange(settings.key("effects"), 0, -1) == [event.id]


@pytest.mark.parametrize("workers", [4, 0], ids=["pool", "inline"])
def test_attempt_headers_a_publisher_made_up_neither_crash_the_consumer_nor_change_its_retries(
    broker: Broker, publisher: Publisher, start_consumer, workers: int
):
    """Finding 1: `x-attempt: -10` and a transient error crashed the consumer (IndexError in the
    retry path), and the redelivered message crashed it again; "abc" was parked as a consumer error."""
    broker.declare()
    failed_once: set[str] = set()
    handled: list[str] = []

    def fail_the_first_time(event: Event) -> None:
        if event.id not in failed_once:
            failed_once.add(event.id)
            raise ConnectionError("gateway timeout")
        handled.append(event.id)

    start_consumer({"order.placed": fail_the_first_time}, workers=workers)
    # pika cannot send a float; a decimal makes this broker close the publisher's channel (541)
    made_up = [-10, -3, "abc", [1, 2], {"n": 1}, 2**62]
    hostile = [order_placed() for _ in made_up]
    publisher.send_many(
        [
            Message(
                EVENTS_EXCHANGE,
                "order.placed",
                event.to_json(),
                pika.BasicProperties(
                    content_type="application/cloudevents+json", headers={"x-attempt": attempt}
                ),
            )
            for event, attempt in zip(hostile, made_up, strict=True)
        ]
    )

    retried = {event.id for event in hostile[:-1]}  # counted as a first attempt: retried once, then handled
    wait_until(lambda: set(handled) == retried, timeout=15, what="made-up counts retried from the first")
    [(props, body)] = wait_until(lambda: broker.drain(DLQ), timeout=10, what="a count past the last retry")
    assert json.loads(body)["id"] == hostile[-1].id
    assert (props.headers["x-death-reason"], props.headers["x-attempt"]) == (
        "exhausted",
        len(RETRY_DELAYS_S) + 1,
    )
    later = order_placed()
    publisher.publish(later)
    wait_until(lambda: later.id in failed_once, what="the same consumer still taking messages")
    assert broker.consumers(SERVICE) == 1
