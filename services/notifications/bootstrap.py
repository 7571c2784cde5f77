"""Wire the notifications handlers to their dependencies: the one place that knows both."""

from __future__ import annotations

import functools
from collections.abc import Callable

from redis import Redis

from services.notifications import handlers
from services.notifications.knobs import Knobs
from services.notifications.mailer import SmtpMailer
from services.notifications.settings import NotificationsSettings
from services.notifications.store import RedisNotifications
from shared.bootstrap import Handlers, not_in_this_process
from shared.envelope import Event

# What the notifications consumer subscribes to: its queue is bound to these event types, at
# the broker's boot too (infra/stack.py reads them), and each is handled by its function.
HANDLERS = {"order.confirmed": handlers.queue_notification, "order.cancelled": handlers.queue_notification}


def bootstrap(
    settings: NotificationsSettings,
    redis: Redis,
    *,
    enqueue_send: Callable[[str], None] = not_in_this_process,
    publish: Callable[[Event], None] = not_in_this_process,
) -> Handlers:
    """The consumer's event handlers (they enqueue sends) and the worker's `send_notification`
    (it mails and publishes)."""
    store = RedisNotifications(redis, settings)
    mailer = SmtpMailer(
        settings.smtp_url, sender=settings.notify_sender, delay_ms=Knobs(redis, settings).delay_ms
    )
    return Handlers(
        events={
            event_type: functools.partial(handle, store=store, enqueue_send=enqueue_send)
            for event_type, handle in HANDLERS.items()
        },
        commands={
            "send_notification": functools.partial(
                handlers.send_notification, store=store, send_email=mailer.send, publish=publish
            )
        },
    )
