"""The notifications use cases as plain functions; bootstrap() injects what they need.

`queue_notification` handles `order.confirmed` / `order.cancelled` in the consumer: it
records the notification and enqueues `send_notification`, which the worker may run any
number of times for it (retries, redeliveries, duplicate tasks) and which sends one email.

The at-least-once window that remains: if a worker dies after the SMTP server accepted
the email but before the notification was marked sent, the claim expires and the
redelivered task sends it again. The duplicate carries the same Message-ID, so mail
clients and tests can recognise it. No protocol closes that window: SMTP has no
idempotency key, so this is the smallest window there is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from services.notifications.mailer import compose
from services.notifications.model import QUEUED, Notification
from services.notifications.store import NotificationStore
from shared.envelope import Event
from shared.logs import log_context
from shared.metrics import observe_order_stage

log = logging.getLogger(__name__)


def queue_notification(
    event: Event, *, store: NotificationStore, enqueue_send: Callable[[str], None]
) -> None:
    """order.confirmed / order.cancelled → the customer's email, queued for the worker.

    Always enqueue, also for a redelivered event: the consumer may have died between
    storing and enqueueing, and a send task for a notification already sent is a no-op.
    Its email is composed once first: one that would gain a header or a recipient raises
    UnsafeEmail (a PermanentError), so the event is dead-lettered with the reason, not queued.
    """
    notification = Notification.for_outcome(event)
    compose(notification)
    if not store.add(notification):
        log.info("%s for order %s was already queued", notification.template, notification.order_id)
    enqueue_send(notification.notification_id)


def send_notification(
    notification_id: str,
    *,
    store: NotificationStore,
    send_email: Callable[[Notification], None],
    publish: Callable[[Event], None],
) -> str:
    """Send the email once, then announce notification.sent; returns what happened.

    Raises SendInProgress while another task holds the notification, and whatever
    send_email or publish raise: the task retries those with backoff.
    """
    with store.claim(notification_id) as notification:
        if notification is None:
            log.error("unknown notification %s", notification_id)
            return "unknown"
        if notification.published:
            return "duplicate"
        with log_context(order_id=notification.order_id, correlation_id=notification.correlation_id):
            if notification.status == QUEUED:
                send_email(notification)
                store.mark_sent(notification_id)
                if notification.placed_at:
                    observe_order_stage("emailed", notification.placed_at, datetime.now(UTC))
            publish(notification.sent_event())
            store.mark_published(notification_id)
            log.info("%s email sent to %s", notification.template, notification.recipient)
    return "sent"
