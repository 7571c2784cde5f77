"""The payments handlers with an in-memory ledger, the simulated gateway and a list as broker."""

from __future__ import annotations

import pytest

from services.payments import handlers
from services.payments.gateway import GatewayUnavailable, SimulatedGateway
from services.payments.model import ChargeInProgress
from shared.envelope import Event
from tests.support.events import ORDER_ID, order_placed
from tests.unit.payments.fakes import FakeGatewayStore, FakeLedger


class Payments:
    """The payments service around fakes: what a test drives and inspects."""

    def __init__(self) -> None:
        self.ledger = FakeLedger()
        self.gateway = SimulatedGateway(FakeGatewayStore())
        self.enqueued: list[str] = []
        self.published: list[Event] = []

    def receive(self, event: Event) -> None:
        handlers.request_payment(event, ledger=self.ledger, enqueue_charge=self.enqueued.append)

    def charge(self, order_id: str = ORDER_ID) -> str:
        return handlers.charge_order(
            order_id, ledger=self.ledger, gateway=self.gateway, publish=self.published.append
        )


@pytest.fixture
def payments() -> Payments:
    return Payments()


def test_an_order_placed_is_recorded_and_its_charge_enqueued(payments: Payments) -> None:
    payments.receive(order_placed())

    payment = payments.ledger.get(ORDER_ID)
    assert payment is not None
    assert (payment.status, payment.amount_cents, payment.currency, payment.token) == (
        "requested",
        2500,
        "EUR",
        "tok_visa",
    )
    assert payments.enqueued == [ORDER_ID]


def test_a_redelivered_order_placed_keeps_the_request_and_enqueues_a_harmless_task(
    payments: Payments,
) -> None:
    placed = order_placed()
    payments.receive(placed)
    assert payments.charge() == "authorized"

    payments.receive(placed)

    assert payments.ledger.get(ORDER_ID).status == "authorized"
    assert payments.enqueued == [ORDER_ID, ORDER_ID]
    assert payments.charge() == "duplicate"
    assert payments.gateway.charges(ORDER_ID) == 1
    assert len(payments.published) == 1


def test_an_authorized_charge_announces_payment_authorized_caused_by_the_order(payments: Payments) -> None:
    placed = order_placed()
    payments.receive(placed)

    assert payments.charge() == "authorized"

    [event] = payments.published
    assert event.type == "payment.authorized"
    assert (event.data.order_id, event.data.amount_cents, event.data.currency) == (ORDER_ID, 2500, "EUR")
    assert event.data.payment_id == payments.ledger.get(ORDER_ID).payment_id
    assert event.correlationid == placed.correlationid
    assert event.traceparent.split("-")[1] == placed.traceparent.split("-")[1]
    assert payments.ledger.get(ORDER_ID).published


def test_a_declined_charge_announces_payment_declined_with_the_reason(payments: Payments) -> None:
    payments.receive(order_placed("tok_chargeDeclined"))

    assert payments.charge() == "declined"

    [event] = payments.published
    assert (event.type, event.data.reason) == ("payment.declined", "card_declined")
    assert payments.gateway.charges(ORDER_ID) == 0


def test_transient_gateway_failures_are_raised_for_the_task_to_retry(payments: Payments) -> None:
    payments.receive(order_placed("tok_flaky"))

    for _ in range(2):
        with pytest.raises(GatewayUnavailable):
            payments.charge()
    assert payments.published == []

    assert payments.charge() == "authorized"
    assert payments.ledger.get(ORDER_ID).attempts == 3
    assert payments.gateway.charges(ORDER_ID) == 1


def test_the_last_gateway_attempt_declines_when_the_gateway_is_still_unavailable(payments: Payments) -> None:
    payments.gateway = SimulatedGateway(FakeGatewayStore(), failure_rate=1.0)
    payments.receive(order_placed())

    for _ in range(handlers.MAX_GATEWAY_ATTEMPTS - 1):
        with pytest.raises(GatewayUnavailable):
            payments.charge()
    assert payments.charge() == "declined"

    [event] = payments.published
    assert event.data.reason == "gateway_unavailable"
    assert payments.ledger.get(ORDER_ID).attempts == handlers.MAX_GATEWAY_ATTEMPTS


def test_an_order_another_task_is_charging_is_left_to_it(payments: Payments) -> None:
    payments.receive(order_placed())
    payments.ledger.claimed.add(ORDER_ID)

    with pytest.raises(ChargeInProgress):
        payments.charge()

    assert payments.gateway.charges(ORDER_ID) == 0
    assert payments.published == []


def test_an_outcome_whose_publish_failed_is_published_again_without_charging_again(
    payments: Payments,
) -> None:
    payments.receive(order_placed())

    def broker_down(_event: Event) -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        handlers.charge_order(ORDER_ID, ledger=payments.ledger, gateway=payments.gateway, publish=broker_down)
    assert payments.charge() == "authorized"
    assert payments.charge() == "duplicate"

    assert payments.gateway.charges(ORDER_ID) == 1
    assert len(payments.published) == 1
    assert payments.ledger.claimed == set()


def test_the_outcome_event_id_is_the_same_on_every_retry(payments: Payments) -> None:
    payments.receive(order_placed())
    payments.charge()
    payment = payments.ledger.get(ORDER_ID)

    assert payment.outcome_event().id == payment.outcome_event().id == payments.published[0].id


def test_a_charge_for_an_order_never_requested_does_nothing(payments: Payments) -> None:
    assert payments.charge("o-unknown") == "unknown"
    assert payments.published == []


def test_a_task_that_outlived_its_claim_does_not_announce_an_outcome_another_task_announced(
    payments: Payments,
) -> None:
    payments.receive(order_placed())
    slow_gateway = payments.gateway

    class ClaimRunsOutDuringTheCharge:
        """While this task waits on the gateway, its lease expires and another task finishes."""

        def charge(self, *args: object) -> object:
            result = slow_gateway.charge(*args)
            payments.ledger.claimed.clear()
            assert payments.charge() == "authorized"
            return result

    outcome = handlers.charge_order(
        ORDER_ID,
        ledger=payments.ledger,
        gateway=ClaimRunsOutDuringTheCharge(),
        publish=payments.published.append,
    )

    assert outcome == "authorized"
    assert [e.type for e in payments.published] == ["payment.authorized"]  # once, by the other task
    assert slow_gateway.charges(ORDER_ID) == 1
