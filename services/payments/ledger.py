"""The payments ledger in the service's own Redis: one hash per order.

The ledger is what makes charging idempotent per order. A request is stored once;
it is settled once (the first outcome wins); and the work on one order is done under
a short claim, so a redelivered or duplicated task waits instead of racing the first.
A claim is a lease: if its holder dies, it expires and a redelivery takes over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

from redis import Redis

from services.payments.model import ChargeInProgress, Payment
from shared.envelope import Cause
from shared.idempotency import AddIfAbsent, Lease, as_hash, as_hash_args
from shared.settings import Settings

CLAIM_LEASE_S = 30

_SETTLE = """
if redis.call('HGET', KEYS[1], 'status') == 'requested' then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return redis.call('HGETALL', KEYS[1])
"""


class Ledger(Protocol):
    def add(self, payment: Payment) -> bool: ...
    def get(self, order_id: str) -> Payment | None: ...
    def count_attempt(self, order_id: str) -> int: ...
    def settle(self, payment: Payment) -> Payment: ...
    def mark_published(self, order_id: str) -> None: ...
    def claim(self, order_id: str) -> contextlib.AbstractContextManager[Payment | None]: ...


class RedisLedger:
    def __init__(self, redis: Redis, settings: Settings, lease_s: int = CLAIM_LEASE_S) -> None:
        self._redis = redis
        self._settings = settings
        self._add = AddIfAbsent(redis)
        self._settle = redis.register_script(_SETTLE)
        self._lease = Lease(redis, lease_s)

    def _key(self, order_id: str, kind: str = "payment") -> str:
        """The id last, after what the key holds: an id with a `:` in it can never name the key of
        another order (`payment:<X>:claim` was once both order X's claim and order `<X>:claim`)."""
        return self._settings.key(kind, order_id)

    def add(self, payment: Payment) -> bool:
        """Store a new payment request; False if this order already has one."""
        fields = {
            "order_id": payment.order_id,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
            "token": payment.token,
            **payment.cause.to_fields(),
            "status": payment.status,
        }
        return self._add(self._key(payment.order_id), fields)

    def get(self, order_id: str) -> Payment | None:
        return _payment(self._redis.hgetall(self._key(order_id)))

    def count_attempt(self, order_id: str) -> int:
        """Count one more call to the gateway; returns the count so far."""
        return int(self._redis.hincrby(self._key(order_id), "attempts", 1))

    def settle(self, payment: Payment) -> Payment:
        """Record the outcome if the payment is still requested; returns the payment as stored
        (the first outcome wins)."""
        fields = {"status": payment.status, "payment_id": payment.payment_id, "reason": payment.reason}
        raw = self._settle(keys=[self._key(payment.order_id)], args=as_hash_args(fields))
        return _payment(as_hash(raw)) or payment

    def mark_published(self, order_id: str) -> None:
        self._redis.hset(self._key(order_id), "published", "1")

    @contextlib.contextmanager
    def claim(self, order_id: str) -> Iterator[Payment | None]:
        """Hold the order for one task; yields its payment as read under the claim."""
        busy = ChargeInProgress(f"order {order_id} is being charged by another task")
        with self._lease.hold(self._key(order_id, "payment-claim"), busy, read=self._key(order_id)) as raw:
            yield _payment(raw)


def _payment(raw: dict[str, str]) -> Payment | None:
    if not raw:
        return None
    return Payment(
        order_id=raw["order_id"],
        amount_cents=int(raw["amount_cents"]),
        currency=raw["currency"],
        token=raw["token"],
        cause=Cause.from_fields(raw),
        status=raw["status"],
        payment_id=raw.get("payment_id", ""),
        reason=raw.get("reason", ""),
        attempts=int(raw.get("attempts", 0)),
        published=raw.get("published") == "1",
    )
