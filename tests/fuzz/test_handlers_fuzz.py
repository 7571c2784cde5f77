"""Every event handler of orders, payments, notifications and loyalty, wired by its service's
bootstrap() on the real Redis (where HINCRBY overflows and Lua scripts run), with arbitrary events.

A body reaches a handler only if `decode` accepts it, as in the consumer. What may escape:
InvalidEvent from `decode` (dead-lettered as `invalid`) and PermanentError from a handler
(dead-lettered as `rejected`, e.g. notifications' UnsafeEmail). Anything else would be retried
three times and parked as `exhausted`: a poison message, so here a failure.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import event as note
from hypothesis import given
from hypothesis import strategies as st
from redis import Redis

from harness.sandbox import REDIS_URL
from services.loyalty.bootstrap import bootstrap as loyalty_bootstrap
from services.loyalty.points import LoyaltyStore
from services.notifications.bootstrap import bootstrap as notifications_bootstrap
from services.notifications.settings import NotificationsSettings
from services.orders import handlers as orders_handlers
from services.orders.bootstrap import bootstrap as orders_bootstrap
from services.orders.commands import PlaceOrder
from services.orders.settings import OrdersSettings
from services.orders.store import OrderStore
from services.payments.bootstrap import bootstrap as payments_bootstrap
from services.payments.gateway import GatewayUnavailable
from services.payments.model import ChargeInProgress
from services.payments.settings import PaymentsSettings
from shared.bootstrap import Handler, Handlers
from shared.consumer import PermanentError
from shared.contract import MAX_CENTS, MAX_QTY, Code, Email
from shared.envelope import Event, InvalidEvent, decode, new_event
from shared.settings import Settings
from tests.fuzz.test_envelope_fuzz import bodies


def pattern(annotated: Any) -> str:
    """The regular expression of a constrained string of the contract."""
    [constraints] = typing.get_args(annotated)[1:]
    return constraints.pattern


ids = st.uuids().map(str)
emails = st.from_regex(pattern(Email), fullmatch=True).filter(lambda address: len(address) <= 254)
codes = st.from_regex(pattern(Code), fullmatch=True)
cents = st.integers(0, MAX_CENTS) | st.just(MAX_CENTS)
currencies = st.just("EUR") | st.from_regex(r"[A-Z]{3}", fullmatch=True)
lines = st.fixed_dictionaries({"sku": codes, "qty": st.integers(1, MAX_QTY), "unit_price_cents": cents})
DATA: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "order.placed": st.fixed_dictionaries(
        {
            "order_id": ids,
            "customer_email": emails,
            "items": st.lists(lines, min_size=1, max_size=3),
            "total_cents": cents,
            "currency": currencies,
            "payment_token": codes | st.sampled_from(["tok_visa", "tok_chargeDeclined", "tok_flaky"]),
        }
    ),
    "payment.authorized": st.fixed_dictionaries(
        {"order_id": ids, "payment_id": ids, "amount_cents": cents, "currency": currencies}
    ),
    "payment.declined": st.fixed_dictionaries({"order_id": ids, "payment_id": ids, "reason": codes}),
    "order.confirmed": st.fixed_dictionaries(
        {"order_id": ids, "customer_email": emails, "total_cents": cents}
    ),
    "order.cancelled": st.fixed_dictionaries({"order_id": ids, "customer_email": emails, "reason": codes}),
}


def events_of(*event_types: str, **fixed: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Valid events of the types at the contract's edges (`fixed`: fields drawn from elsewhere),
    and arbitrary bodies: whatever `decode` lets through reaches the handler."""
    valid = st.sampled_from(event_types).flatmap(
        lambda event_type: DATA[event_type].flatmap(
            lambda data: st.fixed_dictionaries(
                {name: values for name, values in fixed.items() if name in data}
            ).map(lambda chosen: new_event(event_type, {**data, **chosen}, source="fuzz").to_json())
        )
    )
    return valid | bodies


def handle(handlers: Mapping[str, Handler], body: bytes) -> Event | None:
    """What the consumer does with the body, up to the handler; the decoded event if it was handled."""
    try:
        event = decode(body)
    except InvalidEvent:
        note("invalid")
        return None
    handler = handlers.get(event.type)
    if handler is None:
        note("unhandled")
        return None
    try:
        handler(event)
    except PermanentError:
        note(f"{event.type} rejected")
        return None
    note(f"{event.type} handled")
    return event


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="module")
def prefix(redis: Redis) -> Iterator[str]:
    """A key prefix of this module's own; its keys are deleted afterwards."""
    prefix = f"fuzz-{uuid.uuid4().hex[:8]}:"
    yield prefix
    for key in redis.scan_iter(f"{prefix}*", count=1000):
        redis.delete(key)


def settings_of(settings: Callable[..., Settings], service: str, prefix: str) -> Any:
    return settings(
        service=service, amqp_url="amqp://fuzz:pw@unused", redis_url=REDIS_URL, redis_prefix=prefix
    )


@dataclass
class Wired:
    """A service's handlers as its bootstrap() wires them, and what a test looks at."""

    handlers: Handlers
    store: Any = None
    enqueued: list[str] = field(default_factory=list)
    published: list[Event] = field(default_factory=list)


@pytest.fixture(scope="module")
def orders(redis: Redis, prefix: str) -> Wired:
    settings = settings_of(OrdersSettings, "orders", prefix)
    return Wired(orders_bootstrap(settings, redis), OrderStore(redis, settings))


@pytest.fixture(scope="module")
def payments(redis: Redis, prefix: str) -> Wired:
    settings = settings_of(PaymentsSettings, "payments", prefix)
    wired = Wired(Handlers(events={}))
    wired.handlers = payments_bootstrap(
        settings, redis, enqueue_charge=wired.enqueued.append, publish=wired.published.append
    )
    return wired


@pytest.fixture(scope="module")
def notifications(redis: Redis, prefix: str) -> Wired:
    settings = settings_of(NotificationsSettings, "notifications", prefix)
    wired = Wired(Handlers(events={}))
    wired.handlers = notifications_bootstrap(settings, redis, enqueue_send=wired.enqueued.append)
    return wired


@pytest.fixture(scope="module")
def loyalty(redis: Redis, prefix: str) -> Wired:
    settings = settings_of(Settings, "loyalty", prefix)
    store = LoyaltyStore(redis, settings)
    return Wired(loyalty_bootstrap(settings, redis, store=store), store)


ORDER = PlaceOrder(
    customer_email="ada@example.com", items=[{"sku": "MUG-CERAMIC", "qty": 2}], payment_token="tok_visa"
)


@given(data=st.data())
def test_orders_handles_any_payment_outcome(orders: Wired, data: st.DataObject):
    order = orders_handlers.place_order(ORDER, orders.store).order  # a pending order for each case
    body = data.draw(
        events_of(
            "payment.authorized",
            "payment.declined",
            order_id=st.just(order.id) | ids,
            amount_cents=st.just(order.total_cents) | cents,
            currency=st.just(order.currency) | currencies,
        )
    )
    handle(orders.handlers.events, body)
    assert orders.store.get(order.id) is not None  # the order still reads back


@given(body=events_of("order.placed"))
def test_payments_handles_any_order_and_charges_it(payments: Wired, body: bytes):
    payments.enqueued.clear()
    payments.published.clear()
    if handle(payments.handlers.events, body) is None:
        return
    for order_id in payments.enqueued:
        try:
            payments.handlers.commands["charge_order"](order_id)
        except (GatewayUnavailable, ChargeInProgress):  # the task retries them
            note("charge retried")
    for outcome in payments.published:  # what payments publishes passes the contract it consumes by
        assert decode(outcome.to_json()) == outcome


@given(body=events_of("order.confirmed", "order.cancelled"))
def test_notifications_queues_any_order_outcome(notifications: Wired, body: bytes):
    notifications.enqueued.clear()
    if handle(notifications.handlers.events, body) is not None:
        assert len(notifications.enqueued) == 1


@given(body=events_of("order.placed", "order.confirmed", customer_email=st.just("ada@example.com") | emails))
def test_loyalty_counts_any_order(loyalty: Wired, body: bytes):
    event = handle(loyalty.handlers.events, body)
    if event is not None:
        assert loyalty.store.account(event.data.customer_email)["points"] >= 0  # type: ignore[attr-defined]


@given(typed=st.sampled_from(sorted(DATA)).flatmap(lambda t: DATA[t].map(lambda d: (t, d))))
def test_the_valid_strategies_make_events_the_contract_takes(typed: tuple[str, dict[str, Any]]):
    """Guards the strategies above: every generated valid body decodes (else they fuzz nothing)."""
    event_type, data = typed
    assert decode(new_event(event_type, data, source="fuzz").to_json()).type == event_type
