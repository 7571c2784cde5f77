"""The notifications Celery task: send one notification, by its id (shared.tasks makes it
reliable). NOTIFY_RATE_LIMIT caps its rate per worker (see app.py)."""

from __future__ import annotations

from services.notifications import bootstrap
from services.notifications.model import SendInProgress
from shared.tasks import id_task, worker_handlers


# OSError covers every smtplib error. Retries outlast an SMTP server or broker that is away for
# a while and a claim held by another task: with the backoff capped at 60 s and full jitter,
# the 40 retries span about twenty minutes.
@id_task(task_id_prefix="send", transient=(OSError, SendInProgress), retry_backoff_max_s=60)
def send_notification(notification_id: str) -> str:
    return worker_handlers(bootstrap.bootstrap).commands["send_notification"](notification_id)
