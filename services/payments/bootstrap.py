"""Wire the payments handlers to their dependencies: the one place that knows both."""

from __future__ import annotations

import functools
from collections.abc import Callable

from redis import Redis

from services.payments import handlers
from services.payments.gateway import RedisGatewayStore, SimulatedGateway
from services.payments.ledger import RedisLedger
from services.payments.settings import PaymentsSettings
from shared.bootstrap import Handlers, not_in_this_process
from shared.envelope import Event

# What the payments consumer subscribes to: its queue is bound to these event types, at the
# broker's boot too (infra/stack.py reads them), and each is handled by its function.
HANDLERS = {"order.placed": handlers.request_payment}


def bootstrap(
    settings: PaymentsSettings,
    redis: Redis,
    *,
    enqueue_charge: Callable[[str], None] = not_in_this_process,
    publish: Callable[[Event], None] = not_in_this_process,
) -> Handlers:
    """The consumer's event handlers (they enqueue charges) and the worker's `charge_order`
    (it publishes outcomes)."""
    ledger = RedisLedger(redis, settings)
    return Handlers(
        events={
            event_type: functools.partial(handle, ledger=ledger, enqueue_charge=enqueue_charge)
            for event_type, handle in HANDLERS.items()
        },
        commands={
            "charge_order": functools.partial(
                handlers.charge_order, ledger=ledger, gateway=gateway(settings, redis), publish=publish
            )
        },
    )


def gateway(settings: PaymentsSettings, redis: Redis) -> SimulatedGateway:
    return SimulatedGateway(
        RedisGatewayStore(redis, settings),
        latency_ms=settings.gateway_latency_ms,
        failure_rate=settings.gateway_failure_rate,
    )
