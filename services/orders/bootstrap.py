"""Wire the orders handlers to their dependencies: the one place that knows both."""

from __future__ import annotations

import functools

from redis import Redis

from services.orders import handlers
from services.orders.settings import OrdersSettings
from services.orders.store import OrderStore
from shared.bootstrap import Handlers

# What the orders consumer subscribes to: its queue is bound to these event types, at the
# broker's boot too (infra/stack.py reads them), and each is handled by its function.
HANDLERS = {"payment.authorized": handlers.confirm_order, "payment.declined": handlers.cancel_order}


def bootstrap(settings: OrdersSettings, redis: Redis) -> Handlers:
    """The event handlers of the orders consumer, by event type."""
    store = OrderStore(redis, settings)
    return Handlers(
        events={event_type: functools.partial(handle, store=store) for event_type, handle in HANDLERS.items()}
    )
