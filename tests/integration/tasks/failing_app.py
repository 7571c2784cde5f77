"""A Celery app wired exactly like the services' (shared.celery_app), with one task that
always fails: what happens to a task once its retries are spent."""

from celery import shared_task
from flask import Flask

from shared.celery_app import celery_init_app
from shared.settings import Settings

SERVICE = "tasktest"

flask_app = Flask(SERVICE)
flask_app.config["SETTINGS"] = Settings(service=SERVICE)
celery = celery_init_app(flask_app)


@shared_task(autoretry_for=(ConnectionError,), max_retries=1, retry_backoff=1, retry_jitter=False)
def always_failing(order_id: str) -> None:
    raise ConnectionError(f"the gateway never answers for {order_id}")
