"""Wire the notifications handlers to their dependencies: the one place that knows both."""

from __future__ import annotations

import functools
from collections.abc import Callable

from redis import Redis

from services.notifications import handlers
from services.notifications.knobs import Knobs
from services.notifications.mailer import SmtpMailer
from services.notifications.store import RedisNotifications
from shared.consumer import Handler
from shared.envelope import Event
from shared.settings import Settings

# What the notifications consumer subscribes to: its queue is bound to these event types, at
# the broker's boot too (infra/stack.py reads them), and each is handled by its function.
HANDLERS = {"order.confirmed": handlers.queue_notification, "order.cancelled": handlers.queue_notification}


def event_handlers(
    settings: Settings, redis: Redis, enqueue_send: Callable[[str], None]
) -> dict[str, Handler]:
    """The handlers of the notifications consumer, by event type."""
    store = RedisNotifications(redis, settings)
    return {
        event_type: functools.partial(handle, store=store, enqueue_send=enqueue_send)
        for event_type, handle in HANDLERS.items()
    }


def send_command(settings: Settings, redis: Redis, publish: Callable[[Event], None]) -> Callable[[str], str]:
    """`send_notification(notification_id)` as the worker runs it."""
    return functools.partial(
        handlers.send_notification,
        store=RedisNotifications(redis, settings),
        send_email=SmtpMailer.from_env(settings, Knobs(redis, settings)).send,
        publish=publish,
    )
