"""The public event contract: each event type and the pydantic model of its `data`.

This is the one place producers and consumers agree on. Names are past tense;
payloads are light and correlated by `order_id`. Consumers are tolerant readers:
unknown extra fields are kept, not rejected, so producers can add fields safely.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# A structural check only. The full RFC check (pydantic's EmailStr) belongs at the edge
# where an address enters the system (the orders API); repeated here it would cost every
# consumer ~40 us per event, more than everything else the bus does with a message.
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


class EventData(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class OrderLine(EventData):
    sku: str
    qty: int = Field(gt=0)
    unit_price_cents: int = Field(ge=0)


class OrderPlaced(EventData):
    order_id: str
    customer_email: Email
    items: list[OrderLine] = Field(min_length=1)
    total_cents: int = Field(ge=0)
    currency: str
    payment_token: str


class PaymentAuthorized(EventData):
    order_id: str
    payment_id: str
    amount_cents: int = Field(ge=0)
    currency: str


class PaymentDeclined(EventData):
    order_id: str
    payment_id: str
    reason: str


class OrderConfirmed(EventData):
    order_id: str
    customer_email: Email
    total_cents: int = Field(ge=0)


class OrderCancelled(EventData):
    order_id: str
    customer_email: Email
    reason: str


class NotificationSent(EventData):
    order_id: str
    notification_id: str
    channel: str
    recipient: str
    template: str


class ServiceHeartbeat(EventData):
    """Announces a running process so the dashboard discovers services by itself."""

    service: str
    process: str
    instance: str
    queue: str | None = None


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
