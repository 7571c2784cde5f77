"""The Redis ledger and gateway memory of payments, on the real Redis inside a sandbox prefix."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from harness.waiting import wait_until
from services.payments.gateway import RedisGatewayStore, SimulatedGateway
from services.payments.ledger import RedisLedger
from services.payments.model import ChargeInProgress
from shared.settings import Settings
from tests.integration.payments.conftest import requested
from tests.support.events import ORDER_ID


def test_a_request_is_stored_once_and_read_back(redis: Redis, settings: Settings) -> None:
    ledger = RedisLedger(redis, settings)
    payment = requested()

    assert ledger.add(payment)
    assert not ledger.add(payment.settle(True, "pay_other"))

    assert ledger.get(ORDER_ID) == payment
    assert ledger.get("o-unknown") is None
    assert all(key.startswith(settings.key("")) for key in redis.scan_iter(f"{settings.redis_namespace}*"))


def test_the_first_outcome_wins_and_attempts_are_counted(redis: Redis, settings: Settings) -> None:
    ledger = RedisLedger(redis, settings)
    payment = requested()
    ledger.add(payment)
    ledger.count_attempt(ORDER_ID)
    ledger.count_attempt(ORDER_ID)

    assert ledger.settle(payment.settle(True, "pay_1")).payment_id == "pay_1"
    assert ledger.settle(payment.settle(False, "pay_2", "card_declined")).payment_id == "pay_1"
    ledger.mark_published(ORDER_ID)

    stored = ledger.get(ORDER_ID)
    assert (stored.status, stored.payment_id, stored.attempts, stored.published) == (
        "authorized",
        "pay_1",
        2,
        True,
    )


def test_a_claim_is_exclusive_released_after_use_and_expires_if_its_holder_dies(
    redis: Redis, settings: Settings
) -> None:
    ledger = RedisLedger(redis, settings, lease_s=1)
    expected = requested()
    ledger.add(expected)
    with ledger.claim(ORDER_ID) as payment:
        assert payment == expected  # read under the claim, in the same round trip
        with pytest.raises(ChargeInProgress), ledger.claim(ORDER_ID):
            pass
    with ledger.claim(ORDER_ID):
        pass

    abandoned = ledger.claim(ORDER_ID)
    abandoned.__enter__()  # a worker that dies holding the claim never exits it

    def claimable() -> bool:
        try:
            with ledger.claim(ORDER_ID):
                return True
        except ChargeInProgress:
            return False

    wait_until(claimable, 5, 0.1, "the abandoned claim to expire")


def test_concurrent_charges_with_one_idempotency_key_charge_once(redis: Redis, settings: Settings) -> None:
    gateway = SimulatedGateway(RedisGatewayStore(redis, settings))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: gateway.charge(ORDER_ID, "tok_visa", 2500, "EUR"), range(32)))

    assert len({r.payment_id for r in results}) == 1
    assert gateway.charges(ORDER_ID) == 1


def test_an_order_id_that_ends_like_a_key_of_another_order_touches_only_its_own_record(
    redis: Redis, settings: Settings
) -> None:
    """Finding 6: the request of an order `<X>:claim` was stored on order X's claim key, so X
    could never be claimed (the contract now refuses such an id; the keys no longer depend on it)."""
    ledger = RedisLedger(redis, settings)
    expected = requested()
    ledger.add(expected)
    ledger.add(dataclasses.replace(requested(), order_id=f"{ORDER_ID}:claim"))

    with ledger.claim(ORDER_ID) as payment:
        assert payment == expected
    assert ledger.get(f"{ORDER_ID}:claim").order_id == f"{ORDER_ID}:claim"
