"""Wire the loyalty handlers to their dependencies: the one place that knows both."""

from __future__ import annotations

import functools

from redis import Redis

from services.loyalty import handlers
from services.loyalty.points import LoyaltyStore
from shared.bootstrap import Handlers
from shared.settings import Settings

SERVICE = "loyalty"
# What the loyalty consumer subscribes to (its queue is bound to these event types when it
# starts) and reads back from the event log; each is handled by its function.
HANDLERS = {"order.placed": handlers.count_placed_order, "order.confirmed": handlers.award_points}


def bootstrap(settings: Settings, redis: Redis, *, store: LoyaltyStore | None = None) -> Handlers:
    """The event handlers of the loyalty consumer, by event type; `store` is the one its
    backfill checkpoints in, if the caller has it already."""
    store = store or LoyaltyStore(redis, settings)
    return Handlers(
        events={event_type: functools.partial(handle, store=store) for event_type, handle in HANDLERS.items()}
    )
