"""Events as a producer would publish them, for tests that play that producer."""

from __future__ import annotations

from shared.envelope import Event, new_event


def order_placed(token: str = "tok_visa", order_id: str = "o-1") -> Event:
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
