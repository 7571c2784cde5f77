"""Events as a producer would publish them, for tests that play that producer."""

from __future__ import annotations

import json
from typing import Any

from shared.envelope import Event, new_event

# The ids of the sample order, its payment and its notification (UUID-shaped, as the contract wants).
ORDER_ID = "00000000-0000-4000-8000-000000000001"
PAYMENT_ID = "00000000-0000-4000-8000-0000000000a1"
NOTIFICATION_ID = "00000000-0000-4000-8000-0000000000b1"
POINTS = {"order_id": ORDER_ID, "points": 12}


def order_placed(token: str = "tok_visa", order_id: str = ORDER_ID) -> Event:
    """Two books at 12.50 EUR, paid with `token`."""
    return new_event(
        "order.placed",
        {
            "order_id": order_id,
            "customer_email": "ada@example.com",
            "items": [{"sku": "book", "qty": 2, "unit_price_cents": 1250}],
            "total_cents": 2500,
            "currency": "EUR",
            "payment_token": token,
        },
        source="orders",
    )


def unlisted(
    data: dict[str, Any] = POINTS, event_type: str = "points.awarded", subject: str | None = ORDER_ID
) -> bytes:
    """An event of a type shared/contract.py does not list yet, on the wire as a newer
    service would send it: a valid envelope (its own id) with that type and its data."""
    wire = json.loads(order_placed().to_json())
    body = {**wire, "type": event_type, "source": "loyalty", "subject": subject, "data": data}
    return json.dumps(body).encode()


SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "payment.authorized": {
        "order_id": ORDER_ID,
        "payment_id": PAYMENT_ID,
        "amount_cents": 2500,
        "currency": "EUR",
    },
    "payment.declined": {"order_id": ORDER_ID, "payment_id": PAYMENT_ID, "reason": "card_declined"},
    "order.confirmed": {"order_id": ORDER_ID, "customer_email": "ada@example.com", "total_cents": 2500},
    "order.cancelled": {"order_id": ORDER_ID, "customer_email": "ada@example.com", "reason": "card_declined"},
    "service.heartbeat": {"service": "payments", "process": "consumer", "instance": "host-1:42"},
    "notification.sent": {
        "order_id": ORDER_ID,
        "notification_id": NOTIFICATION_ID,
        "channel": "email",
        "recipient": "ada@example.com",
        "template": "order_confirmed",
    },
}


def of_type(event_type: str, **data: Any) -> Event:
    """A valid event of any type the contract lists, with `data` over a sample payload."""
    if event_type == "order.placed":
        return order_placed()
    return new_event(event_type, {**SAMPLE_DATA[event_type], **data}, source="test")
