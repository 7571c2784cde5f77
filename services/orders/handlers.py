"""What orders does, as plain functions: place an order; settle it on a payment outcome.

The settle handlers read the order, let the model decide, and ask the store to write the
change only if the order is still as read and the event is new. If another event moved
the order in between (two replicas, an authorization racing a decline), they decide
again on the fresh state, where the late event is a harmless no-op.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from services.orders import events, model
from services.orders.catalog import PRODUCTS
from services.orders.commands import PlaceOrder
from services.orders.store import OrderStore, Placement, TransitionOutcome
from shared.consumer import PermanentError
from shared.envelope import Event
from shared.metrics import observe_order_stage

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def place_order(
    command: PlaceOrder,
    store: OrderStore,
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    now: Clock = utc_now,
) -> Placement:
    """Price the order from the catalog and store it with its `order.placed` event."""
    order_id = str(uuid.uuid4())
    lines = model.price_lines([(line.sku, line.qty) for line in command.items], PRODUCTS)
    order = model.place(order_id, command.customer_email, lines, command.payment_token, now())
    placed = events.order_placed(order, correlation_id or order_id)
    return store.add(order, placed, idempotency_key, command.fingerprint())


def confirm_order(event: Event, store: OrderStore, now: Clock = utc_now) -> None:
    """payment.authorized → CONFIRMED + order.confirmed, only if it paid the order's total in its
    currency. Anything else confirms nothing and is dead-lettered (`rejected`) for a person to
    look at: it is a bug or an attack, and cancelling would decide on its word alone."""
    paid = (event.data.amount_cents, event.data.currency)  # type: ignore[attr-defined]

    def confirm(order: model.Order) -> model.Order:
        if paid != (order.total_cents, order.currency):
            raise PermanentError(
                f"payment.authorized of {paid[0]} {paid[1]} for order {order.id} of "
                f"{order.total_cents} {order.currency}: nothing confirmed"
            )
        return model.confirm(order, now())

    confirmed = _settle(event, store, confirm, events.order_confirmed)
    if confirmed is not None and confirmed.confirmed_at is not None:
        observe_order_stage("confirmed", confirmed.placed_at, confirmed.confirmed_at)


def cancel_order(event: Event, store: OrderStore, now: Clock = utc_now) -> None:
    """payment.declined → CANCELLED + order.cancelled."""
    reason = event.data.reason  # type: ignore[attr-defined]
    _settle(event, store, lambda order: model.cancel(order, reason, now()), events.order_cancelled)


def _settle(
    cause: Event,
    store: OrderStore,
    change: Callable[[model.Order], model.Order],
    announce: Callable[[model.Order, Event], Event],
) -> model.Order | None:
    """Apply `change` to the order once for `cause`; the changed order, if this call changed it."""
    order_id = cause.data.order_id  # type: ignore[attr-defined]
    while True:
        order, processed = store.get_for_event(order_id, cause.id)
        if processed:
            log.info("duplicate %s for order %s ignored: already processed", cause.type, order_id)
            return None
        if order is None:
            raise PermanentError(f"{cause.type} for unknown order {order_id}")
        try:
            changed = change(order)
        except model.InvalidTransition:
            log.info("late %s ignored: order %s is already %s", cause.type, order_id, order.status)
            return None
        outcome = store.transition(order, changed, cause.id, announce(changed, cause))
        if outcome is TransitionOutcome.APPLIED:
            log.info("order %s is %s", order_id, changed.status)
            return changed
        if outcome is TransitionOutcome.DUPLICATE:
            log.info("duplicate %s for order %s ignored: processed meanwhile", cause.type, order_id)
            return None
        if outcome is TransitionOutcome.MISSING:
            raise PermanentError(f"order {order_id} disappeared")
        log.info("order %s changed while handling %s; deciding again", order_id, cause.type)
