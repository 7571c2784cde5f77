"""A customer notification: which email an order outcome calls for, and the event saying it went out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.contract import NotificationSent
from shared.envelope import Cause, Event, new_event

SOURCE = "notifications"
CHANNEL = "email"
MAIL_DOMAIN = "notifications.shop"
QUEUED = "queued"
SENT = "sent"
TEMPLATES = {"order.confirmed": "order_confirmed", "order.cancelled": "order_cancelled"}
_IDS = uuid.UUID("0c6f8a4e-2b7d-4f0e-8a53-6d2e9b1f7c30")


class SendInProgress(Exception):
    """Another task holds this notification's claim; try again once it finished or its lease expired."""


@dataclass(frozen=True)
class Notification:
    notification_id: str
    order_id: str
    template: str
    recipient: str
    detail: str  # what the template shows besides the order: the total or the cancel reason
    cause: Cause  # of the order outcome: notification.sent carries its correlation id and trace forward
    placed_at: datetime | None = None  # of the order: the placed → emailed latency is measured from it
    status: str = QUEUED
    published: bool = False

    @classmethod
    def for_outcome(cls, event: Event) -> Notification:
        """The one notification an order outcome calls for: same event → same notification id."""
        template = TEMPLATES[event.type]
        data = event.data
        order_id: str = data.order_id  # type: ignore[attr-defined]
        detail = str(data.total_cents if event.type == "order.confirmed" else data.reason)  # type: ignore[attr-defined]
        return cls(
            notification_id=str(uuid.uuid5(_IDS, f"{template}:{order_id}")),
            order_id=order_id,
            template=template,
            recipient=str(data.customer_email),  # type: ignore[attr-defined]
            detail=detail,
            cause=Cause.of(event),
            placed_at=data.placed_at,  # type: ignore[attr-defined]
        )

    @property
    def correlation_id(self) -> str:
        return self.cause.correlationid

    @property
    def message_id(self) -> str:
        """Deterministic, so a re-sent email is recognisably the same one (and names its order)."""
        return f"<{self.order_id}.{self.template}@{MAIL_DOMAIN}>"

    def sent_event(self) -> Event:
        return new_event(
            "notification.sent",
            NotificationSent(
                order_id=self.order_id,
                notification_id=self.notification_id,
                channel=CHANNEL,
                recipient=self.recipient,
                template=self.template,
            ),
            source=SOURCE,
            caused_by=self.cause,
            event_id=str(uuid.uuid5(_IDS, f"notification.sent:{self.notification_id}")),
        )
