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


def event_handlers(
    settings: Settings, redis: Redis, enqueue_charge: Callable[[str], None]
) -> dict[str, Handler]:
    """The handlers of the payments consumer, by event type."""
    ledger = RedisLedger(redis, settings)
    return {
        "order.placed": functools.partial(
            handlers.request_payment, ledger=ledger, enqueue_charge=enqueue_charge
        )
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
