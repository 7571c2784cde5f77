"""Pricing from the catalog and the order state machine, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.orders import model
from services.orders.catalog import PRODUCTS, Product
from services.orders.model import InvalidTransition, OrderStatus

PLACED_AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
LATER = PLACED_AT + timedelta(seconds=1)


def pending_order() -> model.Order:
    lines = model.price_lines([("MUG-CERAMIC", 2), ("MOKA-POT-6", 1)], PRODUCTS)
    return model.place("o-1", "ada@example.com", lines, "tok_visa", PLACED_AT)


def test_lines_are_priced_from_the_catalog_and_summed() -> None:
    catalog = {"A": Product("A", "Thing A", 250), "B": Product("B", "Thing B", 1000)}

    lines = model.price_lines([("A", 3), ("B", 2)], catalog)
    order = model.place("o-1", "ada@example.com", lines, "tok_visa", PLACED_AT)

    assert [(ln.sku, ln.name, ln.unit_price_cents, ln.total_cents) for ln in lines] == [
        ("A", "Thing A", 250, 750),
        ("B", "Thing B", 1000, 2000),
    ]
    assert order.total_cents == 2750
    assert order.currency == "EUR"


def test_a_placed_order_is_pending() -> None:
    order = pending_order()

    assert order.status is OrderStatus.PENDING
    assert order.placed_at == order.updated_at == PLACED_AT
    assert not order.status.is_terminal


def test_confirm_records_when() -> None:
    confirmed = model.confirm(pending_order(), LATER)

    assert confirmed.status is OrderStatus.CONFIRMED
    assert confirmed.confirmed_at == confirmed.updated_at == LATER
    assert confirmed.placed_at == PLACED_AT


def test_cancel_records_when_and_why() -> None:
    cancelled = model.cancel(pending_order(), "card declined", LATER)

    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.cancelled_at == LATER
    assert cancelled.cancel_reason == "card declined"


@pytest.mark.parametrize(
    "settle",
    [lambda o: model.confirm(o, LATER), lambda o: model.cancel(o, "declined", LATER)],
    ids=["confirm", "cancel"],
)
@pytest.mark.parametrize(
    "end",
    [lambda o: model.confirm(o, LATER), lambda o: model.cancel(o, "declined", LATER)],
    ids=["confirmed", "cancelled"],
)
def test_terminal_orders_never_change_again(settle, end) -> None:
    terminal = end(pending_order())

    assert terminal.status.is_terminal
    with pytest.raises(InvalidTransition):
        settle(terminal)
