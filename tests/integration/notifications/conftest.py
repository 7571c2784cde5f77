"""notifications' settings and Redis inside the test's sandbox, and notifications to store."""

from __future__ import annotations

import pytest
from redis import Redis

from harness.sandbox import Sandbox
from services.notifications.model import Notification
from services.notifications.settings import NotificationsSettings
from shared.envelope import new_event
from tests.support.events import ORDER_ID


@pytest.fixture
def settings(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> NotificationsSettings:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    return NotificationsSettings(service="notifications")


@pytest.fixture
def redis(settings: NotificationsSettings) -> Redis:
    return Redis.from_url(settings.redis_url, decode_responses=True)


def sample_order_id(n: int) -> str:
    """The n-th sample order's id, UUID-shaped as the contract wants (1 is ORDER_ID)."""
    return f"00000000-0000-4000-8000-{n:012d}"


def confirmation(order_id: str = ORDER_ID, email: str = "ada@example.com") -> Notification:
    data = {"order_id": order_id, "customer_email": email, "total_cents": 2500}
    return Notification.for_outcome(new_event("order.confirmed", data, source="orders"))


def cancellation(order_id: str = ORDER_ID) -> Notification:
    data = {"order_id": order_id, "customer_email": "ada@example.com", "reason": "card_declined"}
    return Notification.for_outcome(new_event("order.cancelled", data, source="orders"))
