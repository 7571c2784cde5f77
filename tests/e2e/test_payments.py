"""payments as real processes (the Procfile commands) on the real broker and Redis.

Events go in with the shared Publisher, as orders would send them; outcomes are read
from an observer queue bound to `payment.*` in the sandbox vhost, and charges from the
read API, which reports what the simulated gateway really charged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import requests

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.sandbox import quiescent
from harness.waiting import wait_until
from shared.envelope import Event
from shared.publisher import Publisher
from tests.support.bus import BusObserver
from tests.support.events import order_placed as placed_with

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def payments() -> Iterator[SandboxedStack]:
    """payments consumer, worker and API in their own sandbox, shared by this module's tests."""
    with sandboxed_stack("payments", autorestart=False) as stack:
        stack.up("payments")
        yield stack


@pytest.fixture
def publisher(payments: SandboxedStack) -> Iterator[Publisher]:
    """Plays orders; the payments queue exists from the start (up() declares the core topology)."""
    publisher = Publisher(payments.sandbox.amqp_url_for("orders"), name="test-orders")
    yield publisher
    publisher.close()


@pytest.fixture
def observer(payments: SandboxedStack) -> Iterator[BusObserver]:
    observer = BusObserver(payments.sandbox.amqp_url, binding="payment.*")
    yield observer
    observer.close()


def order_placed(token: str) -> Event:
    return placed_with(token, order_id=str(uuid.uuid4()))


def payment_of(stack: SandboxedStack, order_id: str) -> dict:
    response = requests.get(stack.url("payments") + "/api/payments", params={"order_id": order_id}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def outcome(observer: BusObserver, order_id: str, timeout: float = 30) -> Event:
    return wait_until(
        lambda: (observer.of_order(order_id) or [None])[0], timeout, 0.1, f"outcome of {order_id}"
    )


def test_a_visa_card_is_authorized_and_charged_once(
    payments: SandboxedStack, publisher: Publisher, observer: BusObserver
) -> None:
    placed = order_placed("tok_visa")
    publisher.publish(placed)

    event = outcome(observer, placed.subject)

    assert event.type == "payment.authorized"
    assert event.data.amount_cents == 2500 and event.data.currency == "EUR"
    assert event.correlationid == placed.correlationid
    assert event.traceparent.split("-")[1] == placed.traceparent.split("-")[1]
    record = payment_of(payments, placed.subject)
    assert record["gateway_charges"] == 1
    assert record["payments"][0]["status"] == "authorized"
    assert record["payments"][0]["payment_id"] == event.data.payment_id


def test_a_declined_card_is_declined_and_not_charged(
    payments: SandboxedStack, publisher: Publisher, observer: BusObserver
) -> None:
    placed = order_placed("tok_chargeDeclined")
    publisher.publish(placed)

    event = outcome(observer, placed.subject)

    assert event.type == "payment.declined"
    assert event.data.reason == "card_declined"
    assert payment_of(payments, placed.subject)["gateway_charges"] == 0


def test_a_flaky_gateway_is_retried_with_backoff_and_charges_once(
    payments: SandboxedStack, publisher: Publisher, observer: BusObserver
) -> None:
    placed = order_placed("tok_flaky")
    publisher.publish(placed)

    event = outcome(observer, placed.subject, timeout=60)

    assert event.type == "payment.authorized"
    record = payment_of(payments, placed.subject)
    assert record["payments"][0]["attempts"] == 3
    assert record["gateway_charges"] == 1


def test_an_order_placed_delivered_twice_charges_once_and_announces_once(
    payments: SandboxedStack, publisher: Publisher, observer: BusObserver
) -> None:
    placed = order_placed("tok_visa")
    publisher.publish(placed)
    publisher.publish(placed)

    outcome(observer, placed.subject)
    wait_until(
        lambda: quiescent(payments.sandbox, "payments"), 60, 0.2, "both deliveries and their tasks settled"
    )

    assert len(observer.of_order(placed.subject)) == 1
    assert payment_of(payments, placed.subject)["gateway_charges"] == 1


def test_a_worker_killed_while_charging_leaves_the_order_to_the_next_one_charged_once(
    payments: SandboxedStack, publisher: Publisher, observer: BusObserver
) -> None:
    payments.stop("payments-worker")
    try:
        with payments.beside("slow-worker", GATEWAY_LATENCY_MS="5000") as slow:
            slow.boot()
            slow.start("payments-worker")
            placed = order_placed("tok_visa")
            publisher.publish(placed)
            wait_until(
                lambda: attempts(payments, placed.subject) == 1, 30, 0.1, "the worker inside the gateway"
            )
            slow.kill("payments-worker")
    finally:
        payments.start("payments-worker")

    event = outcome(observer, placed.subject, timeout=120)  # after the dead worker's claim expired

    assert event.type == "payment.authorized"
    wait_until(lambda: quiescent(payments.sandbox, "payments"), 60, 0.2, "the redelivered task settled")
    assert len(observer.of_order(placed.subject)) == 1
    assert payment_of(payments, placed.subject)["gateway_charges"] == 1


def attempts(stack: SandboxedStack, order_id: str) -> int:
    return sum(p["attempts"] for p in payment_of(stack, order_id)["payments"])


def test_the_read_api_names_the_missing_order_id(payments: SandboxedStack) -> None:
    response = requests.get(payments.url("payments") + "/api/payments", timeout=5)

    assert response.status_code == 400
    assert response.json()["field"] == "order_id"
