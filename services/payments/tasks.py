"""The payments Celery task: thin, takes an order id, retries transient failures with backoff.

Each worker process builds its dependencies (one Publisher connection, the metrics
flusher) on first use, so a prefork child never inherits a parent's sockets.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown
from flask import current_app

from services.payments import bootstrap
from services.payments.gateway import GatewayUnavailable
from services.payments.model import ChargeInProgress
from shared.metrics import TASKS, start_flusher
from shared.publisher import Publisher, PublishError

TRANSIENT = (GatewayUnavailable, ChargeInProgress, PublishError)
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
        outcome = _worker().charge(order_id)
    except TRANSIENT:
        TASKS.labels("charge_order", "transient_failure").inc()
        raise
    TASKS.labels("charge_order", outcome).inc()
    return outcome


@dataclass(frozen=True)
class _Worker:
    publisher: Publisher
    charge: Callable[..., str]


_worker_lock = threading.Lock()


def _worker() -> _Worker:
    with _worker_lock:
        return _build_worker()


@functools.cache
def _build_worker() -> _Worker:
    settings = current_app.config["SETTINGS"]
    redis = current_app.extensions["redis"]
    publisher = Publisher(settings.amqp_url, name="payments-worker")
    start_flusher(redis, settings.key("metrics"))
    return _Worker(publisher, bootstrap.charge_command(settings, redis, publisher.publish))


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_publisher(**_: object) -> None:
    if _build_worker.cache_info().currsize:
        _build_worker().publisher.close()
