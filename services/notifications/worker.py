"""The notifications Celery worker.

    celery --app services.notifications.worker worker --queues notifications.tasks

Celery looks for its app under the name `app`.
"""

from __future__ import annotations

from services.notifications import tasks  # noqa: F401  (registers the tasks)
from services.notifications.app import create_app
from services.notifications.settings import SERVICE
from shared.celery_app import worker_app
from shared.tracing import start_tracing

start_tracing(SERVICE, "worker")  # before the app, whose web factory would start it as "api"
app = worker_app(create_app())
