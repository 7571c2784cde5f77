"""The handlers against an in-memory store: placing, settling, and the harmless no-ops."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.orders import handlers
from services.orders.commands import PlaceOrder
from services.orders.model import Order, OrderStatus
from services.orders.store import IdempotencyConflict, Placement, TransitionOutcome
from shared.consumer import PermanentError
from shared.envelope import Event, new_event
from shared.metrics import PROCESS_REGISTRY
from tests.support.events import PAYMENT_ID

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


class FakeStore:
    """Keeps the OrderStore promises in memory: idempotency, processed markers, compare-and-set."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.idempotency: dict[str, tuple[str, str]] = {}
        self.processed: set[str] = set()
        self.outbox: list[Event] = []

    def add(self, order: Order, placed: Event, idempotency_key=None, fingerprint: str = "") -> Placement:
        if idempotency_key in self.idempotency:
            order_id, known = self.idempotency[idempotency_key]
            if known != fingerprint:
                raise IdempotencyConflict(idempotency_key)
            return Placement(self.orders[order_id], created=False)
        if idempotency_key is not None:
            self.idempotency[idempotency_key] = (order.id, fingerprint)
        self.orders[order.id] = order
        self.outbox.append(placed)
        return Placement(order, created=True)

    def get_for_event(self, order_id: str, event_id: str) -> tuple[Order | None, bool]:
        return self.orders.get(order_id), event_id in self.processed

    def transition(self, before: Order, after: Order, cause_id: str, event: Event) -> TransitionOutcome:
        if cause_id in self.processed:
            return TransitionOutcome.DUPLICATE
        if self.orders[after.id].status is not before.status:
            return TransitionOutcome.STALE
        self.orders[after.id] = after
        self.outbox.append(event)
        self.processed.add(cause_id)
        return TransitionOutcome.APPLIED


class RacedStore(FakeStore):
    """The next read returns `stale_snapshot`: the order as it was before another event settled it."""

    stale_snapshot: Order | None = None

    def get_for_event(self, order_id: str, event_id: str) -> tuple[Order | None, bool]:
        snapshot, self.stale_snapshot = self.stale_snapshot, None
        return (snapshot, False) if snapshot else super().get_for_event(order_id, event_id)


def command(token: str = "tok_visa", qty: int = 2) -> PlaceOrder:
    return PlaceOrder.model_validate(
        {
            "customer_email": "ada@example.com",
            "items": [{"sku": "MUG-CERAMIC", "qty": qty}],
            "payment_token": token,
        }
    )


def place(store: FakeStore, **kwargs) -> Order:
    return handlers.place_order(command(), store, now=lambda: NOW, **kwargs).order


def authorized(order: Order) -> Event:
    data = {
        "order_id": order.id,
        "payment_id": PAYMENT_ID,
        "amount_cents": order.total_cents,
        "currency": "EUR",
    }
    return new_event("payment.authorized", data, source="payments", correlation_id="corr-1")


def declined(order: Order) -> Event:
    return new_event(
        "payment.declined",
        {"order_id": order.id, "payment_id": PAYMENT_ID, "reason": "card_declined"},
        source="payments",
    )


def types(store: FakeStore) -> list[str]:
    return [event.type for event in store.outbox]


def test_placing_prices_from_the_catalog_and_emits_order_placed() -> None:
    store = FakeStore()

    order = place(store, correlation_id="corr-9")

    assert order.status is OrderStatus.PENDING
    assert order.total_cents == 2 * 1290
    [placed] = store.outbox
    assert placed.type == "order.placed"
    assert placed.subject == order.id
    assert placed.correlationid == "corr-9"
    assert placed.data.total_cents == order.total_cents
    assert placed.data.payment_token == "tok_visa"


def test_the_order_id_is_the_correlation_id_by_default() -> None:
    store = FakeStore()

    order = place(store)

    assert store.outbox[0].correlationid == order.id


def test_the_same_idempotency_key_returns_the_same_order() -> None:
    store = FakeStore()

    first = handlers.place_order(command(), store, idempotency_key="k")
    again = handlers.place_order(command(), store, idempotency_key="k")

    assert (first.created, again.created) == (True, False)
    assert again.order.id == first.order.id
    assert types(store) == ["order.placed"]


def test_the_same_idempotency_key_with_another_body_is_a_conflict() -> None:
    store = FakeStore()
    handlers.place_order(command(qty=1), store, idempotency_key="k")

    with pytest.raises(IdempotencyConflict):
        handlers.place_order(command(qty=2), store, idempotency_key="k")
    assert types(store) == ["order.placed"]


def test_authorized_confirms_once_whatever_the_duplicates() -> None:
    store = FakeStore()
    order = place(store)
    event = authorized(order)

    handlers.confirm_order(event, store, now=lambda: NOW)
    handlers.confirm_order(event, store, now=lambda: NOW)

    assert store.orders[order.id].status is OrderStatus.CONFIRMED
    assert types(store) == ["order.placed", "order.confirmed"]
    confirmed = store.outbox[-1]
    assert confirmed.correlationid == "corr-1"
    assert confirmed.data.total_cents == order.total_cents


def test_declined_cancels_with_the_reason() -> None:
    store = FakeStore()
    order = place(store)

    handlers.cancel_order(declined(order), store)

    assert store.orders[order.id].status is OrderStatus.CANCELLED
    assert store.orders[order.id].cancel_reason == "card_declined"
    assert types(store) == ["order.placed", "order.cancelled"]
    assert store.outbox[-1].data.reason == "card_declined"


def test_a_late_decline_after_authorization_changes_nothing() -> None:
    store = FakeStore()
    order = place(store)
    handlers.confirm_order(authorized(order), store)

    handlers.cancel_order(declined(order), store)

    assert store.orders[order.id].status is OrderStatus.CONFIRMED
    assert types(store) == ["order.placed", "order.confirmed"]


def test_a_payment_for_an_unknown_order_is_dead_lettered() -> None:
    store = FakeStore()
    ghost = place(FakeStore())  # placed in another store: unknown to this one

    with pytest.raises(PermanentError):
        handlers.confirm_order(authorized(ghost), store)


def test_an_order_settled_meanwhile_is_decided_again_on_fresh_state() -> None:
    pending = place(FakeStore())
    store = RacedStore()
    store.orders[pending.id] = pending
    handlers.cancel_order(declined(pending), store)  # the competing event wins the race
    store.stale_snapshot = pending

    handlers.confirm_order(authorized(pending), store)

    assert store.orders[pending.id].status is OrderStatus.CANCELLED
    assert types(store) == ["order.cancelled"]


@pytest.mark.parametrize("paid", [{"amount_cents": 1}, {"currency": "USD"}])
def test_an_authorization_of_another_amount_or_currency_confirms_nothing(paid: dict) -> None:
    store = FakeStore()
    order = place(store)
    event = authorized(order)
    wrong = new_event("payment.authorized", {**event.data.model_dump(), **paid}, source="payments")

    with pytest.raises(PermanentError, match="nothing confirmed"):
        handlers.confirm_order(wrong, store, now=lambda: NOW)

    assert store.orders[order.id].status is OrderStatus.PENDING
    assert types(store) == ["order.placed"]


def stage_count(stage: str) -> float:
    return PROCESS_REGISTRY.get_sample_value("shop_order_stage_seconds_count", {"stage": stage}) or 0.0


def test_a_confirmation_is_timed_from_placing_once_and_the_event_says_when_it_was_placed() -> None:
    store = FakeStore()
    order = place(store)
    before = stage_count("confirmed")

    handlers.confirm_order(authorized(order), store, now=lambda: NOW)
    handlers.confirm_order(authorized(order), store, now=lambda: NOW)  # a duplicate: not timed

    assert stage_count("confirmed") == before + 1
    assert store.outbox[-1].data.placed_at == store.orders[order.id].placed_at
