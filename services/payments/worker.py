"""The payments Celery worker: `celery --app services.payments.worker worker --queues payments.tasks`.

Celery looks for its app under the name `app`.
"""

from __future__ import annotations

from services.payments import tasks  # noqa: F401  (registers the tasks)
from services.payments.app import create_app
from services.payments.settings import SERVICE
from shared.celery_app import worker_app
from shared.tracing import start_tracing

start_tracing(SERVICE, "worker")  # before the app, whose web factory would start it as "api"
app = worker_app(create_app())
