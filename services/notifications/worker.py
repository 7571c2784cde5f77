"""The notifications Celery worker.

    celery --app services.notifications.worker worker --queues notifications.tasks

Celery looks for its app under the name `app`.
"""

from __future__ import annotations

from services.notifications import tasks  # noqa: F401  (registers the tasks)
from services.notifications.app import create_app
from shared.celery_app import worker_app

app = worker_app(create_app())
