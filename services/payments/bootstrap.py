"""Wire the payments handlers to their dependencies: the one place that knows both."""

from __future__ import annotations

import functools
from collections.abc import Callable

from redis import Redis

from services.payments import handlers
from services.payments.gateway import RedisGatewayStore, SimulatedGateway
from services.payments.ledger import RedisLedger
from shared.consumer import Handler
from shared.envelope import Event
from shared.settings import Settings

# What the payments consumer subscribes to: its queue is bound to these event types, at the
# broker's boot too (infra/stack.py reads them), and each is handled by its function.
HANDLERS = {"order.placed": handlers.request_payment}


def event_handlers(
    settings: Settings, redis: Redis, enqueue_charge: Callable[[str], None]
) -> dict[str, Handler]:
    """The handlers of the payments consumer, by event type."""
    ledger = RedisLedger(redis, settings)
    return {
        event_type: functools.partial(handle, ledger=ledger, enqueue_charge=enqueue_charge)
        for event_type, handle in HANDLERS.items()
    }


def charge_command(settings: Settings, redis: Redis, publish: Callable[[Event], None]) -> Callable[..., str]:
    """`charge_order(order_id)` as the worker runs it."""
    return functools.partial(
        handlers.charge_order,
        ledger=RedisLedger(redis, settings),
        gateway=gateway(settings, redis),
        publish=publish,
    )


def gateway(settings: Settings, redis: Redis) -> SimulatedGateway:
    return SimulatedGateway.from_env(RedisGatewayStore(redis, settings))
