"""The simulated gateway's rules, on an in-memory store."""

from __future__ import annotations

import random
import uuid

import pytest

from services.payments.gateway import GatewayUnavailable, SimulatedGateway
from tests.unit.payments.fakes import FakeGatewayStore


@pytest.fixture
def gateway() -> SimulatedGateway:
    return SimulatedGateway(FakeGatewayStore())


def test_a_visa_card_is_authorized_and_charged_once(gateway: SimulatedGateway) -> None:
    result = gateway.charge("o-1", "tok_visa", 2500, "EUR")

    assert result.approved
    assert str(uuid.UUID(result.payment_id)) == result.payment_id  # the shape the contract wants
    assert gateway.charges("o-1") == 1


def test_the_same_idempotency_key_returns_the_first_answer_without_charging_again(
    gateway: SimulatedGateway,
) -> None:
    first = gateway.charge("o-1", "tok_visa", 2500, "EUR")

    again = gateway.charge("o-1", "tok_visa", 2500, "EUR")

    assert again == first
    assert gateway.charges("o-1") == 1


def test_a_declined_card_is_declined_and_not_charged(gateway: SimulatedGateway) -> None:
    result = gateway.charge("o-1", "tok_chargeDeclined", 2500, "EUR")

    assert not result.approved
    assert result.reason == "card_declined"
    assert gateway.charges("o-1") == 0


def test_a_flaky_card_fails_transiently_twice_per_order_then_authorizes(gateway: SimulatedGateway) -> None:
    for _ in range(2):
        with pytest.raises(GatewayUnavailable):
            gateway.charge("o-1", "tok_flaky", 2500, "EUR")
    with pytest.raises(GatewayUnavailable):
        gateway.charge("o-2", "tok_flaky", 100, "EUR")  # its own count

    assert gateway.charge("o-1", "tok_flaky", 2500, "EUR").approved
    assert gateway.charges("o-1") == 1


def test_an_unknown_token_is_declined_as_invalid(gateway: SimulatedGateway) -> None:
    result = gateway.charge("o-1", "tok_unknown", 2500, "EUR")

    assert (result.approved, result.reason) == (False, "invalid_token")


def test_the_failure_rate_knob_fails_requests_transiently_without_charging() -> None:
    always_failing = SimulatedGateway(FakeGatewayStore(), failure_rate=1.0, rng=random.Random(1))

    with pytest.raises(GatewayUnavailable):
        always_failing.charge("o-1", "tok_visa", 2500, "EUR")

    assert always_failing.charges("o-1") == 0


def test_the_failure_rate_knob_fails_about_that_share_of_requests() -> None:
    gateway = SimulatedGateway(FakeGatewayStore(), failure_rate=0.3, rng=random.Random(7))
    failures = 0
    for n in range(1000):
        try:
            gateway.charge(f"o-{n}", "tok_visa", 100, "EUR")
        except GatewayUnavailable:
            failures += 1

    assert 250 < failures < 350
