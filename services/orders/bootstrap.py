"""Wire the orders handlers to their dependencies: the one place that knows both."""

from __future__ import annotations

import functools

from redis import Redis

from services.orders import handlers
from services.orders.store import OrderStore
from shared.consumer import Handler
from shared.settings import Settings


def bootstrap(settings: Settings, redis: Redis) -> dict[str, Handler]:
    """The event handlers of the orders consumer, by event type."""
    store = OrderStore(redis, settings)
    return {
        "payment.authorized": functools.partial(handlers.confirm_order, store=store),
        "payment.declined": functools.partial(handlers.cancel_order, store=store),
    }
