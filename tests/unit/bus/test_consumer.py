"""What the consumer decides for each delivery, and how it acks, with small fakes."""

from __future__ import annotations

from typing import Any

import pika
import pytest
import redis.exceptions

from shared.consumer import ANY_TYPE, RELEASE, Delivery, EventConsumer, Outcome, PermanentError, _Session
from shared.envelope import Event, new_event
from shared.settings import Settings
from shared.topology import EVENTS_EXCHANGE, RETRY_DELAYS_S, Binding
from tests.support.events import ORDER_ID, PAYMENT_ID, order_placed, unlisted

SETTINGS = Settings(service="payments", amqp_url="amqp://payments:pw@unused", redis_url="redis://unused")


def consumer_with(handler: Any) -> EventConsumer:
    return EventConsumer("payments", {"order.placed": handler}, SETTINGS)


def test_a_handler_that_returns_gets_its_message_acked():
    handled: list[Event] = []
    event = order_placed()

    outcome = consumer_with(handled.append).outcome_of(event.to_json(), {}, "order.placed", "orders")

    assert outcome == Outcome("ack")
    assert handled == [event]


def test_a_permanent_error_is_dead_lettered_without_retrying():
    def refuse(_event: Event) -> None:
        raise PermanentError("unknown sku")

    outcome = consumer_with(refuse).outcome_of(order_placed().to_json(), {}, "order.placed", "orders")

    assert (outcome.action, outcome.reason, outcome.error) == ("dead_letter", "rejected", "unknown sku")


def fail(_event: Event) -> None:
    raise TimeoutError("gateway slow")


@pytest.mark.parametrize("previous_attempts", range(len(RETRY_DELAYS_S)))
def test_other_errors_are_retried_while_delays_remain(previous_attempts: int):
    outcome = consumer_with(fail).outcome_of(
        order_placed().to_json(), {"x-attempt": previous_attempts}, "order.placed", "orders"
    )

    assert (outcome.action, outcome.attempt) == ("retry", previous_attempts + 1)
    assert "gateway slow" in outcome.error


def test_after_the_last_retry_the_message_is_dead_lettered_as_exhausted():
    attempts_so_far = len(RETRY_DELAYS_S)

    outcome = consumer_with(fail).outcome_of(
        order_placed().to_json(), {"x-attempt": attempts_so_far}, "order.placed", "orders"
    )

    assert (outcome.action, outcome.reason, outcome.attempt) == (
        "dead_letter",
        "exhausted",
        attempts_so_far + 1,
    )


@pytest.mark.parametrize(
    "outage",
    [redis.exceptions.BusyLoadingError("Redis is loading"), redis.exceptions.ConnectionError("refused")],
)
@pytest.mark.parametrize("previous_attempts", range(len(RETRY_DELAYS_S) + 3))
def test_an_outage_of_redis_never_uses_up_the_attempts(outage: Exception, previous_attempts: int):
    """Redis restarting (and loading its data) for longer than the delays add up to parks nothing:
    the message waits in the longest delay queue again and again."""

    def away(_event: Event) -> None:
        raise outage

    outcome = consumer_with(away).outcome_of(
        order_placed().to_json(), {"x-attempt": previous_attempts}, "order.placed", "orders"
    )

    assert outcome.action == "retry"
    assert outcome.attempt == min(previous_attempts + 1, len(RETRY_DELAYS_S))


# What a publisher may put in `x-attempt`: AMQP carries numbers, text, bytes, lists, tables...
HOSTILE_ATTEMPTS = [-3, -10, "abc", "2", b"1", [1], {"n": 1}, 1.5, 1e40, float("nan"), True, None]


@pytest.mark.parametrize("previous_attempts", HOSTILE_ATTEMPTS)
def test_an_attempt_header_that_is_no_count_of_ours_counts_as_no_attempt_yet(previous_attempts: object):
    outcome = consumer_with(fail).outcome_of(
        order_placed().to_json(), {"x-attempt": previous_attempts}, "order.placed", "orders"
    )

    assert (outcome.action, outcome.attempt) == ("retry", 1)


def test_an_attempt_count_beyond_the_retries_is_exhausted_as_the_last_attempt():
    outcome = consumer_with(fail).outcome_of(
        order_placed().to_json(), {"x-attempt": 2**62}, "order.placed", "orders"
    )

    assert (outcome.action, outcome.reason, outcome.attempt) == (
        "dead_letter",
        "exhausted",
        len(RETRY_DELAYS_S) + 1,
    )


class FakeSideChannel:
    """The confirm channel messages are moved on; encodes each as pika would put it on the wire."""

    def __init__(self) -> None:
        self.moved: list[tuple[str, str, dict[str, Any]]] = []

    def basic_publish(self, exchange: str, key: str, body: bytes, props: Any, mandatory: bool) -> None:
        props.encode()
        self.moved.append((exchange, key, props.headers))


@pytest.mark.parametrize("previous_attempts", [*HOSTILE_ATTEMPTS, 2**62])
def test_a_failure_with_any_attempt_header_is_moved_to_a_retry_queue_or_the_dlq(previous_attempts: object):
    side = FakeSideChannel()
    session = _Session("payments", "payments", FakeConnection(), FakeChannel(), side)
    properties = pika.BasicProperties(headers={"x-attempt": previous_attempts})
    delivery = Delivery(1, "order.placed", properties, order_placed().to_json())
    session.received(delivery)
    outcome = consumer_with(fail).outcome_of(delivery.body, properties.headers, "order.placed", "orders")

    session.complete(delivery, outcome)

    [(_exchange, key, headers)] = side.moved
    assert key in {"payments.retry.1s", "payments"}
    assert headers["x-attempt"] in range(1, len(RETRY_DELAYS_S) + 2)
    assert session.channel.acks == [(1, True)]


def test_an_invalid_event_never_reaches_the_handler():
    handled: list[Event] = []

    outcome = consumer_with(handled.append).outcome_of(b"{oops", {}, "order.placed", "orders")

    assert (outcome.action, outcome.reason) == ("dead_letter", "invalid")
    assert handled == []


def test_an_event_without_a_handler_is_dead_lettered():
    event = new_event(
        "payment.declined",
        {"order_id": ORDER_ID, "payment_id": PAYMENT_ID, "reason": "no"},
        source="payments",
    )

    outcome = consumer_with(fail).outcome_of(event.to_json(), {}, "payment.declined", "payments")

    assert (outcome.action, outcome.reason) == ("dead_letter", "unhandled")


class FakeChannel:
    def __init__(self) -> None:
        self.acks: list[tuple[int, bool]] = []

    def basic_ack(self, tag: int, multiple: bool = False) -> None:
        self.acks.append((tag, multiple))


class FakeConnection:
    """Runs thread-safe callbacks at once, as if the I/O thread picked them up."""

    def __init__(self) -> None:
        self.wake_ups = 0

    def add_callback_threadsafe(self, callback: Any) -> None:
        self.wake_ups += 1
        callback()


def session_with(tags: range) -> tuple[_Session, FakeChannel, dict[int, Delivery]]:
    channel = FakeChannel()
    session = _Session("payments", "payments", FakeConnection(), channel, side=None)  # type: ignore[arg-type]
    deliveries = {t: Delivery(t, "order.placed", pika.BasicProperties(), b"") for t in tags}
    for delivery in deliveries.values():
        session.received(delivery)
    return session, channel, deliveries


def test_completions_in_order_are_acked_up_to_the_latest():
    session, channel, deliveries = session_with(range(1, 4))
    for delivery in deliveries.values():
        session.done.append((delivery, Outcome("ack")))

    session.settle_done()

    assert channel.acks == [(3, True)]
    assert session.in_hand == 0


def test_handlers_run_on_the_io_thread_wake_nobody_and_are_acked_together_after_the_round():
    session, channel, deliveries = session_with(range(1, 4))
    for delivery in deliveries.values():
        session.complete(delivery, Outcome("ack"), wake=False)
    assert channel.acks == []
    assert session.connection.wake_ups == 0

    session.settle_done()  # what the consume loop does after each round of I/O

    assert channel.acks == [(3, True)]
    assert session.in_hand == 0


def test_a_slow_first_message_does_not_hold_back_the_acks_of_the_others():
    session, channel, deliveries = session_with(range(1, 5))

    session.complete(deliveries[2], Outcome("ack"))
    session.complete(deliveries[3], Outcome("ack"))
    session.complete(deliveries[1], Outcome("ack"))
    session.complete(deliveries[4], Outcome("ack"))

    assert channel.acks == [(2, False), (3, False), (1, True), (4, True)]


@pytest.mark.parametrize("sender", [None, "payments-not", "notifications", "t-1-orders"])
def test_an_event_not_published_by_its_owner_is_parked_as_forged_unhandled(sender: str | None):
    handled: list[Event] = []

    outcome = consumer_with(handled.append).outcome_of(order_placed().to_json(), {}, "order.placed", sender)

    assert (outcome.action, outcome.reason) == ("dead_letter", "forged")
    assert handled == []


def test_the_owner_is_named_like_the_consumer_s_own_user_and_its_own_moves_are_trusted():
    settings = Settings(
        service="payments", amqp_url="amqp://t-1-payments:pw@unused", redis_url="redis://unused"
    )
    handled: list[Event] = []
    consumer = EventConsumer("payments", {"order.placed": handled.append}, settings)
    body = order_placed().to_json()

    assert consumer.outcome_of(body, {}, "order.placed", "t-1-orders").action == "ack"
    assert consumer.outcome_of(body, {"x-attempt": 1}, "order.placed", "t-1-payments").action == "ack"
    assert consumer.outcome_of(body, {}, "order.placed", "orders").reason == "forged"
    assert len(handled) == 2


def test_a_parked_event_back_from_the_dlq_gets_a_full_set_of_retries():
    headers = {"x-attempt": len(RETRY_DELAYS_S) + 1, "x-death-reason": "exhausted"}

    outcome = consumer_with(fail).outcome_of(order_placed().to_json(), headers, "order.placed", "payments")

    assert (outcome.action, outcome.attempt) == ("retry", 1)


def test_a_message_released_at_shutdown_is_never_acked():
    session, channel, deliveries = session_with(range(1, 4))

    session.complete(deliveries[1], RELEASE)
    session.complete(deliveries[2], Outcome("ack"))
    session.complete(deliveries[3], Outcome("ack"))

    assert channel.acks == [(2, False), (3, False)]
    assert session.in_hand == 0


def test_an_observer_of_any_type_gets_types_the_contract_does_not_list_yet():
    body = unlisted()
    seen: list[Event] = []
    observer = EventConsumer("dashboard", {ANY_TYPE: seen.append}, SETTINGS)

    outcome = observer.outcome_of(body, {}, "points.awarded", "orders")

    assert outcome.action == "ack"
    assert [(e.type, e.data.model_dump()) for e in seen] == [
        ("points.awarded", {"order_id": ORDER_ID, "points": 12})
    ]
    assert consumer_with(seen.append).outcome_of(body, {}, "points.awarded", "orders").reason == "invalid"
    assert Binding(EVENTS_EXCHANGE, "dashboard", "#") in observer.topology  # present and future types
