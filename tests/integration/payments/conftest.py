"""payments' settings and Redis inside the test's sandbox, and a payment request to store."""

from __future__ import annotations

import pytest
from redis import Redis

from harness.sandbox import Sandbox
from services.payments.model import Payment
from services.payments.settings import PaymentsSettings
from shared.envelope import new_event
from tests.support.events import ORDER_ID


@pytest.fixture
def settings(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> PaymentsSettings:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    return PaymentsSettings(service="payments")


@pytest.fixture
def redis(settings: PaymentsSettings) -> Redis:
    return Redis.from_url(settings.redis_url, decode_responses=True)


def requested(order_id: str = ORDER_ID, token: str = "tok_visa") -> Payment:
    data = {
        "order_id": order_id,
        "customer_email": "ada@example.com",
        "items": [{"sku": "book", "qty": 1, "unit_price_cents": 2500}],
        "total_cents": 2500,
        "currency": "EUR",
        "payment_token": token,
    }
    return Payment.requested_by(new_event("order.placed", data, source="orders"))
