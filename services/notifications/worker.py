"""The notifications Celery worker.

    celery --app services.notifications.worker worker --queues notifications.tasks

Celery looks for its app under the name `app`.
"""

from __future__ import annotations

from services.notifications import tasks  # noqa: F401  (registers the tasks)
from services.notifications.app import SERVICE, create_app
from shared.logs import configure_logging

app = create_app().extensions["celery"]
configure_logging(SERVICE, "worker")
