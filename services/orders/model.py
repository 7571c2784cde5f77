"""The order and its life: PENDING until the payment outcome, then CONFIRMED or CANCELLED.

Pure values and functions, no I/O: a transition returns a new Order or raises
InvalidTransition, so the handlers can decide before anything is written and the
store only has to check that nobody moved the order in between.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.orders.catalog import CURRENCY, Product


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self is not OrderStatus.PENDING


class InvalidTransition(Exception):
    """The order is not in a state this change can start from (e.g. already terminal)."""


@dataclass(frozen=True)
class OrderLine:
    sku: str
    name: str
    qty: int
    unit_price_cents: int

    @property
    def total_cents(self) -> int:
        return self.qty * self.unit_price_cents


@dataclass(frozen=True)
class Order:
    id: str
    customer_email: str
    lines: tuple[OrderLine, ...]
    payment_token: str
    status: OrderStatus
    placed_at: datetime
    updated_at: datetime
    currency: str = CURRENCY
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None

    @property
    def total_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)


def price_lines(requested: list[tuple[str, int]], products: dict[str, Product]) -> tuple[OrderLine, ...]:
    """Lines priced from the catalog; the caller has already checked every sku exists."""
    return tuple(
        OrderLine(sku=sku, name=products[sku].name, qty=qty, unit_price_cents=products[sku].unit_price_cents)
        for sku, qty in requested
    )


def place(
    order_id: str, customer_email: str, lines: tuple[OrderLine, ...], payment_token: str, now: datetime
) -> Order:
    return Order(
        id=order_id,
        customer_email=customer_email,
        lines=lines,
        payment_token=payment_token,
        status=OrderStatus.PENDING,
        placed_at=now,
        updated_at=now,
    )


def confirm(order: Order, now: datetime) -> Order:
    _require_pending(order, OrderStatus.CONFIRMED)
    return dataclasses.replace(order, status=OrderStatus.CONFIRMED, confirmed_at=now, updated_at=now)


def cancel(order: Order, reason: str, now: datetime) -> Order:
    _require_pending(order, OrderStatus.CANCELLED)
    return dataclasses.replace(
        order, status=OrderStatus.CANCELLED, cancelled_at=now, cancel_reason=reason, updated_at=now
    )


def _require_pending(order: Order, target: OrderStatus) -> None:
    if order.status is not OrderStatus.PENDING:
        raise InvalidTransition(f"order {order.id} is {order.status}, cannot become {target}")
