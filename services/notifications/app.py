"""The notifications web process (`gunicorn 'services.notifications.app:create_app()'`) and the
Flask app the notifications worker builds on: settings, Redis, Celery."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.notifications.api import OPERATIONS, api
from services.notifications.knobs import Knobs
from services.notifications.settings import SERVICE, NotificationsSettings
from services.notifications.store import RedisNotifications
from services.notifications.tasks import send_notification
from shared.celery_app import celery_init_app
from shared.web import create_service_app


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = NotificationsSettings(service=SERVICE)
    # NOTIFY_RATE_LIMIT (a Celery rate limit such as "100/s", per worker) caps the sending rate
    rate_limit = {send_notification.name: {"rate_limit": settings.notify_rate_limit or None}}
    app = create_service_app(
        settings, {"CELERY": {"task_annotations": rate_limit}, **(config or {})}, OPERATIONS
    )
    celery_init_app(app)
    app.extensions["notifications"] = RedisNotifications(app.extensions["redis"], settings)
    app.extensions["knobs"] = Knobs(app.extensions["redis"], settings)
    app.register_blueprint(api)
    return app
