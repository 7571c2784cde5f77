"""The notifications Celery task: thin, takes a notification id, retries transient failures.

NOTIFY_RATE_LIMIT (a Celery rate limit such as "100/s", per worker) caps the sending
rate. Each worker process builds its dependencies (one Publisher connection, the
metrics flusher) on first use, so a prefork child never inherits a parent's sockets.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from celery import shared_task
from celery.signals import worker_process_shutdown, worker_shutdown
from flask import current_app

from services.notifications import bootstrap
from services.notifications.model import SendInProgress
from shared.metrics import TASKS, start_flusher
from shared.publisher import Publisher, PublishError

TRANSIENT = (OSError, SendInProgress, PublishError)  # OSError covers every smtplib error
# Retries outlast an SMTP server or broker that is away for a while and a claim left by a dead
# worker (30 s lease): with the backoff capped at 60 s and full jitter, 40 retries span ~20 minutes.
MAX_RETRIES = 40


def send_task_id(notification_id: str) -> str:
    """The same for every enqueue of one notification: duplicates are recognisable in logs and Flower."""
    return f"send-{notification_id}"


def enqueue_send(notification_id: str) -> None:
    send_notification.apply_async((notification_id,), task_id=send_task_id(notification_id))


@shared_task(
    autoretry_for=TRANSIENT,
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
    rate_limit=os.environ.get("NOTIFY_RATE_LIMIT") or None,
)
def send_notification(notification_id: str) -> str:
    try:
        outcome = _worker().send(notification_id)
    except TRANSIENT:
        TASKS.labels("send_notification", "transient_failure").inc()
        raise
    TASKS.labels("send_notification", outcome).inc()
    return outcome


@dataclass(frozen=True)
class _Worker:
    publisher: Publisher
    send: Callable[[str], str]


_worker_lock = threading.Lock()


def _worker() -> _Worker:
    with _worker_lock:
        return _build_worker()


@functools.cache
def _build_worker() -> _Worker:
    settings = current_app.config["SETTINGS"]
    redis = current_app.extensions["redis"]
    publisher = Publisher(settings.amqp_url, name="notifications-worker")
    start_flusher(redis, settings.key("metrics"))
    return _Worker(publisher, bootstrap.send_command(settings, redis, publisher.publish))


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_publisher(**_: object) -> None:
    if _build_worker.cache_info().currsize:
        _build_worker().publisher.close()
