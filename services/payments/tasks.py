"""The payments Celery task: thin, takes an order id, retries transient failures with backoff.

Each worker process wires its dependencies on first use (shared.celery_app.worker_publisher).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from celery import shared_task
from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.payments import bootstrap
from services.payments.gateway import GatewayUnavailable
from services.payments.model import ChargeInProgress
from shared.celery_app import worker_publisher
from shared.metrics import TASKS
from shared.publisher import PublishError

# a Redis blip is transient too: redis-py gives up after its own few retries
TRANSIENT = (GatewayUnavailable, ChargeInProgress, PublishError, RedisConnectionError, RedisTimeoutError)
# Retries outlast a flaky gateway (handlers.MAX_GATEWAY_ATTEMPTS bounds the gateway calls),
# a claim left by a dead worker (30 s lease) and a broker blip while announcing the outcome:
# with the backoff capped at 30 s and full jitter, 40 retries span about ten minutes.
MAX_RETRIES = 40


def charge_task_id(order_id: str) -> str:
    """The same for every enqueue of one order: duplicates are recognisable in logs and Flower."""
    return f"charge-{order_id}"


def enqueue_charge(order_id: str) -> None:
    charge_order.apply_async((order_id,), task_id=charge_task_id(order_id))


@shared_task(
    autoretry_for=TRANSIENT,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def charge_order(order_id: str) -> str:
    try:
        outcome = _charge()(order_id)
    except TRANSIENT:
        TASKS.labels("charge_order", "transient_failure").inc()
        raise
    TASKS.labels("charge_order", outcome).inc()
    return outcome


@functools.cache
def _charge() -> Callable[[str], str]:
    """This worker process's charge command, wired once (bootstrap) on first use."""
    settings, redis = current_app.config["SETTINGS"], current_app.extensions["redis"]
    return bootstrap.charge_command(settings, redis, worker_publisher().publish)
