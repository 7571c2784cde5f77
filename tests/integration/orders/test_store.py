"""The Redis store: each write (order + index + outbox, transition + marker + outbox) is all or nothing."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from services.orders import handlers
from services.orders.commands import PlaceOrder
from services.orders.model import OrderStatus
from services.orders.store import IdempotencyConflict, OrderStore, TransitionOutcome
from shared.consumer import PermanentError
from shared.envelope import Event, decode, new_event
from shared.settings import Settings


def command(qty: int = 1, token: str = "tok_visa") -> PlaceOrder:
    return PlaceOrder.model_validate(
        {
            "customer_email": "ada@example.com",
            "items": [{"sku": "MOKA-POT-6", "qty": qty}],
            "payment_token": token,
        }
    )


def outbox_events(redis: Redis, settings: Settings) -> list[Event]:
    return [decode(fields["event"].encode()) for _id, fields in redis.xrange(settings.key("outbox"))]


PAYMENT_ID = "5d0c1b3e-8f2a-4c6d-9e7b-1a2b3c4d5e6f"


def authorized(order_id: str) -> Event:
    data = {"order_id": order_id, "payment_id": PAYMENT_ID, "amount_cents": 3990, "currency": "EUR"}
    return new_event("payment.authorized", data, source="payments")


def declined(order_id: str) -> Event:
    data = {"order_id": order_id, "payment_id": PAYMENT_ID, "reason": "card_declined"}
    return new_event("payment.declined", data, source="payments")


def test_an_order_is_stored_with_its_index_entries_and_its_outbox_event(
    store: OrderStore, redis: Redis, settings: Settings
) -> None:
    placement = handlers.place_order(command(qty=2), store, correlation_id="corr-1")

    order = store.get(placement.order.id)
    assert order == placement.order
    assert order.total_cents == 2 * 3990
    assert redis.zrange(settings.key("orders", "by_time"), 0, -1) == [order.id]
    assert redis.zrange(settings.key("orders", "PENDING"), 0, -1) == [order.id]
    [placed] = outbox_events(redis, settings)
    assert (placed.type, placed.subject, placed.correlationid) == ("order.placed", order.id, "corr-1")
    assert placed.data.total_cents == 2 * 3990


def test_requests_racing_with_one_idempotency_key_make_one_order(
    store: OrderStore, redis: Redis, settings: Settings
) -> None:
    start = threading.Barrier(16)

    def post() -> tuple[str, bool]:
        start.wait()
        placement = handlers.place_order(command(), store, idempotency_key="key-1")
        return placement.order.id, placement.created

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: post(), range(16)))

    assert len({order_id for order_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert redis.zcard(settings.key("orders", "by_time")) == 1
    assert len(outbox_events(redis, settings)) == 1


def test_an_idempotency_key_reused_for_another_body_writes_nothing(
    store: OrderStore, redis: Redis, settings: Settings
) -> None:
    handlers.place_order(command(qty=1), store, idempotency_key="key-1")

    with pytest.raises(IdempotencyConflict):
        handlers.place_order(command(qty=3), store, idempotency_key="key-1")

    assert redis.zcard(settings.key("orders", "by_time")) == 1
    assert len(outbox_events(redis, settings)) == 1


def test_a_payment_outcome_settles_the_order_once_whatever_the_duplicates(
    store: OrderStore, redis: Redis, settings: Settings
) -> None:
    order = handlers.place_order(command(), store).order
    event = authorized(order.id)

    for _ in range(3):
        handlers.confirm_order(event, store)

    settled = store.get(order.id)
    assert settled.status is OrderStatus.CONFIRMED
    assert settled.confirmed_at is not None
    assert [e.type for e in outbox_events(redis, settings)] == ["order.placed", "order.confirmed"]
    assert redis.exists(settings.key("processed", event.id))
    assert redis.zrange(settings.key("orders", "CONFIRMED"), 0, -1) == [order.id]
    assert redis.zcard(settings.key("orders", "PENDING")) == 0


def test_a_transition_from_a_state_the_order_left_is_refused(
    store: OrderStore, redis: Redis, settings
) -> None:
    order = handlers.place_order(command(), store).order
    handlers.cancel_order(declined(order.id), store)
    confirmed = handlers.model.confirm(order, handlers.utc_now())
    event = authorized(order.id)

    outcome = store.transition(order, confirmed, event.id, handlers.events.order_confirmed(confirmed, event))

    assert outcome is TransitionOutcome.STALE
    assert store.get(order.id).status is OrderStatus.CANCELLED
    assert [e.type for e in outbox_events(redis, settings)] == ["order.placed", "order.cancelled"]
    assert not redis.exists(settings.key("processed", event.id))


def test_authorized_and_declined_racing_settle_the_order_exactly_once(
    store: OrderStore, redis: Redis, settings: Settings
) -> None:
    order = handlers.place_order(command(), store).order
    outcomes = [authorized(order.id) if i % 2 else declined(order.id) for i in range(12)]
    start = threading.Barrier(len(outcomes))

    def deliver(event: Event) -> None:
        start.wait()
        settle = handlers.confirm_order if event.type == "payment.authorized" else handlers.cancel_order
        settle(event, store)

    with ThreadPoolExecutor(len(outcomes)) as pool:
        list(pool.map(deliver, outcomes))

    final = store.get(order.id)
    settled = [e for e in outbox_events(redis, settings) if e.type != "order.placed"]
    assert final.status.is_terminal
    assert [e.type for e in settled] == [
        "order.confirmed" if final.status is OrderStatus.CONFIRMED else "order.cancelled"
    ]


def test_a_payment_outcome_for_an_unknown_order_is_permanent(store: OrderStore) -> None:
    with pytest.raises(PermanentError):
        handlers.confirm_order(authorized(str(uuid.uuid4())), store)  # no such order


def test_orders_are_listed_newest_first_and_by_status(store: OrderStore) -> None:
    first, second, third = (handlers.place_order(command(), store).order for _ in range(3))
    handlers.confirm_order(authorized(second.id), store)

    assert [o.id for o in store.list(limit=2)] == [third.id, second.id]
    assert [o.id for o in store.list(OrderStatus.PENDING)] == [third.id, first.id]
    assert [o.id for o in store.list(OrderStatus.CONFIRMED)] == [second.id]
    assert store.list(OrderStatus.CANCELLED) == []
