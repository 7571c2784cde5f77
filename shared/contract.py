"""The public event contract: each event type and the pydantic model of its `data`.

This is the one place producers and consumers agree on. Names are past tense;
payloads are light and correlated by `order_id`. Consumers are tolerant readers:
unknown extra fields are kept, not rejected, so producers can add fields safely.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Bounds, checked where every event is decoded, so no consumer trusts a publisher's size or shape.
# Regular expressions only (pydantic-core runs them in Rust): the consumer's hot path stays cheap.

# A structural check only. The full RFC check (pydantic's EmailStr) belongs at the edge
# where an address enters the system (the orders API); repeated here it would cost every
# consumer ~40 us per event, more than everything else the bus does with a message. It is
# one bare address: none of the characters that separate, quote, comment or fold addresses
# in a header (`,` `;` `<` `>` `"` `(` `)` `[` `]` `\` `:`), no whitespace, no control character.
_ADDRESS_PART = r"[^\s\x00-\x1f\x7f@,;<>\"()\[\]\\:]+"
Email = Annotated[
    str, StringConstraints(pattern=rf"^{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}$", max_length=254)
]
# Ids as the shop makes them (uuid4, or uuid5 where a retry must repeat the id): lower-case
# canonical form only, so one thing has one spelling, and no `:` ever reaches a Redis key.
Id = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
# A machine-readable word (sku, reason, channel, template, payment token, service name).
Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
# What a client may pass through (a correlation id): 1 to 255 visible ASCII characters.
VisibleText = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,255}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# 10^12 cents (ten billion euros) per amount: a sum of a million of them still fits Redis'
# int64 (HINCRBY), cents / 100 stays exact as a float (< 2^53) and in JavaScript's numbers.
MAX_CENTS = 10**12
Cents = Annotated[int, Field(ge=0, le=MAX_CENTS)]
MAX_QTY = 10_000
MAX_LINES = 1_000


class EventData(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class OrderLine(EventData):
    sku: Code
    qty: int = Field(gt=0, le=MAX_QTY)
    unit_price_cents: Cents


class OrderPlaced(EventData):
    order_id: Id
    customer_email: Email
    items: list[OrderLine] = Field(min_length=1, max_length=MAX_LINES)
    total_cents: Cents
    currency: Currency
    payment_token: Code


class PaymentAuthorized(EventData):
    order_id: Id
    payment_id: Id
    amount_cents: Cents
    currency: Currency


class PaymentDeclined(EventData):
    order_id: Id
    payment_id: Id
    reason: Code


class OrderConfirmed(EventData):
    order_id: Id
    customer_email: Email
    total_cents: Cents
    # when the order was placed: what the placed → emailed latency is measured from
    placed_at: datetime | None = None


class OrderCancelled(EventData):
    order_id: Id
    customer_email: Email
    reason: Code
    placed_at: datetime | None = None


class NotificationSent(EventData):
    order_id: Id
    notification_id: Id
    channel: Code
    recipient: Email
    template: Code


class ServiceHeartbeat(EventData):
    """Announces a running process so the dashboard discovers services by itself."""

    service: Code
    process: Code
    instance: VisibleText
    queue: Code | None = None


EVENT_TYPES: dict[str, type[EventData]] = {
    "order.placed": OrderPlaced,
    "payment.authorized": PaymentAuthorized,
    "payment.declined": PaymentDeclined,
    "order.confirmed": OrderConfirmed,
    "order.cancelled": OrderCancelled,
    "notification.sent": NotificationSent,
    "service.heartbeat": ServiceHeartbeat,
}

# Who publishes each type: the broker lets only that service's user publish it (topic
# permissions, infra/privileges.py) and consumers accept it only from that user (user_id).
# A type nobody publishes yet has no entry, so nobody's copy of it is authentic.
PUBLISHERS: dict[str, str] = {
    "order.placed": "orders",
    "order.confirmed": "orders",
    "order.cancelled": "orders",
    "payment.authorized": "payments",
    "payment.declined": "payments",
    "notification.sent": "notifications",
}


def authentic(senders: dict[str, str], event_type: str, sender: str | None, *trusted: str) -> bool:
    """Whether `sender` may have published `event_type`: its owner's user (or one of `trusted`);
    a type no service owns can only come from the administrator (topic permissions)."""
    owner = senders.get(event_type)
    return owner is None or sender in (owner, *trusted)


def publisher_users(own_user: str, service: str) -> dict[str, str]:
    """Each event type's broker user, as seen by the user `own_user` of `service`: users are named
    `<prefix><service>` (no prefix in the shop, `t-1234-` in a test run), so the owner of
    `order.*` next to `t-1234-payments` is `t-1234-orders`. A process connected as a user not
    named after its service (a test acting as the administrator) assumes no prefix."""
    prefix = own_user.removesuffix(service) if own_user.endswith(service) else ""
    return {event_type: prefix + publisher for event_type, publisher in PUBLISHERS.items()}
