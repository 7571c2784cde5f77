"""In-memory stand-ins for the payments ledger and the gateway's memory."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from services.payments.gateway import GatewayResult
from services.payments.model import ChargeInProgress, Payment


class FakeLedger:
    def __init__(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.claimed: set[str] = set()

    def add(self, payment: Payment) -> bool:
        if payment.order_id in self.payments:
            return False
        self.payments[payment.order_id] = payment
        return True

    def get(self, order_id: str) -> Payment | None:
        return self.payments.get(order_id)

    def count_attempt(self, order_id: str) -> int:
        payment = self.payments[order_id]
        self.payments[order_id] = dataclasses.replace(payment, attempts=payment.attempts + 1)
        return payment.attempts + 1

    def settle(self, payment: Payment) -> Payment:
        current = self.payments[payment.order_id]
        if not current.settled:
            self.payments[payment.order_id] = dataclasses.replace(
                current, status=payment.status, payment_id=payment.payment_id, reason=payment.reason
            )
        return self.payments[payment.order_id]

    def mark_published(self, order_id: str) -> None:
        self.payments[order_id] = dataclasses.replace(self.payments[order_id], published=True)

    @contextlib.contextmanager
    def claim(self, order_id: str) -> Iterator[Payment | None]:
        if order_id in self.claimed:
            raise ChargeInProgress(order_id)
        self.claimed.add(order_id)
        try:
            yield self.get(order_id)
        finally:
            self.claimed.discard(order_id)


class FakeGatewayStore:
    def __init__(self) -> None:
        self.results: dict[str, GatewayResult] = {}
        self.attempts: dict[str, int] = {}
        self.charged: dict[str, int] = {}

    def recall(self, key: str) -> GatewayResult | None:
        return self.results.get(key)

    def remember(self, key: str, result: GatewayResult) -> GatewayResult:
        if key not in self.results:
            self.results[key] = result
            self.charged[key] = self.charged.get(key, 0) + int(result.approved)
        return self.results[key]

    def count_attempt(self, key: str) -> int:
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return self.attempts[key]

    def charges(self, key: str) -> int:
        return self.charged.get(key, 0)
