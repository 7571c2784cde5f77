"""The events orders publishes, built from an order at the moment its change is stored.

The event (and so its id) is fixed when it enters the outbox: a republish after a relay
crash is the same event again, which consumers recognise and drop.
"""

from __future__ import annotations

from services.orders.model import Order
from shared.envelope import Event, new_event

SOURCE = "orders"


def order_placed(order: Order, correlation_id: str) -> Event:
    return new_event(
        "order.placed",
        {
            "order_id": order.id,
            "customer_email": order.customer_email,
            "items": [
                {"sku": line.sku, "qty": line.qty, "unit_price_cents": line.unit_price_cents}
                for line in order.lines
            ],
            "total_cents": order.total_cents,
            "currency": order.currency,
            "payment_token": order.payment_token,
        },
        source=SOURCE,
        subject=order.id,
        correlation_id=correlation_id,
    )


def order_confirmed(order: Order, cause: Event) -> Event:
    return new_event(
        "order.confirmed",
        {
            "order_id": order.id,
            "customer_email": order.customer_email,
            "total_cents": order.total_cents,
            "placed_at": order.placed_at.isoformat(),
        },
        source=SOURCE,
        subject=order.id,
        caused_by=cause,
    )


def order_cancelled(order: Order, cause: Event) -> Event:
    return new_event(
        "order.cancelled",
        {
            "order_id": order.id,
            "customer_email": order.customer_email,
            "reason": order.cancel_reason or "",
            "placed_at": order.placed_at.isoformat(),
        },
        source=SOURCE,
        subject=order.id,
        caused_by=cause,
    )
