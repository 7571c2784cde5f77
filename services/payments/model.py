"""A payment as the payments service records it, and the event that announces its outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from shared.contract import OrderPlaced, PaymentAuthorized, PaymentDeclined
from shared.envelope import Cause, Event, new_event

SOURCE = "payments"
REQUESTED = "requested"
AUTHORIZED = "authorized"
DECLINED = "declined"
_EVENT_IDS = uuid.UUID("6f1c2a52-5a8e-4d43-9a61-0b9f3e0c5a11")


class ChargeInProgress(Exception):
    """Another task holds this order's claim; try again once it finished or its lease expired."""


@dataclass(frozen=True)
class Payment:
    order_id: str
    amount_cents: int
    currency: str
    token: str
    cause: Cause  # of the order.placed: outcome events carry its correlation id and trace forward
    status: str = REQUESTED
    payment_id: str = ""
    reason: str = ""
    attempts: int = 0
    published: bool = False

    @classmethod
    def requested_by(cls, event: Event) -> Payment:
        data: OrderPlaced = event.data  # type: ignore[assignment]
        return cls(
            order_id=data.order_id,
            amount_cents=data.total_cents,
            currency=data.currency,
            token=data.payment_token,
            cause=Cause.of(event),
        )

    @property
    def correlation_id(self) -> str:
        return self.cause.correlationid

    @property
    def settled(self) -> bool:
        return self.status != REQUESTED

    def settle(self, approved: bool, payment_id: str, reason: str = "") -> Payment:
        status = AUTHORIZED if approved else DECLINED
        return replace(self, status=status, payment_id=payment_id, reason=reason)

    def outcome_event(self) -> Event:
        """payment.authorized or payment.declined, with an id that is the same on every retry."""
        if self.status == AUTHORIZED:
            event_type = "payment.authorized"
            data: PaymentAuthorized | PaymentDeclined = PaymentAuthorized(
                order_id=self.order_id,
                payment_id=self.payment_id,
                amount_cents=self.amount_cents,
                currency=self.currency,
            )
        elif self.status == DECLINED:
            event_type = "payment.declined"
            data = PaymentDeclined(order_id=self.order_id, payment_id=self.payment_id, reason=self.reason)
        else:
            raise ValueError(f"payment for order {self.order_id} is not settled")
        return new_event(
            event_type,
            data,
            source=SOURCE,
            caused_by=self.cause,
            event_id=str(uuid.uuid5(_EVENT_IDS, f"{event_type}:{self.order_id}")),
        )
