"""The notifications Celery task: thin, takes a notification id, retries transient failures.

NOTIFY_RATE_LIMIT (a Celery rate limit such as "100/s", per worker) caps the sending
rate. Each worker process wires its dependencies on first use (shared.celery_app.worker_publisher).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from celery import shared_task
from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from services.notifications import bootstrap
from services.notifications.model import SendInProgress
from shared.celery_app import worker_publisher
from shared.metrics import TASKS
from shared.publisher import PublishError

# OSError covers every smtplib error; a Redis blip is transient too
TRANSIENT = (OSError, SendInProgress, PublishError, RedisConnectionError, RedisTimeoutError)
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
        outcome = _send()(notification_id)
    except TRANSIENT:
        TASKS.labels("send_notification", "transient_failure").inc()
        raise
    TASKS.labels("send_notification", outcome).inc()
    return outcome


@functools.cache
def _send() -> Callable[[str], str]:
    """This worker process's send command, wired once (bootstrap) on first use."""
    settings, redis = current_app.config["SETTINGS"], current_app.extensions["redis"]
    return bootstrap.send_command(settings, redis, worker_publisher().publish)
