"""The notifications web process (`gunicorn 'services.notifications.app:create_app()'`) and the
Flask app every notifications process builds on: settings, Redis, Celery."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.notifications.api import api
from services.notifications.knobs import Knobs
from services.notifications.store import RedisNotifications
from shared.celery_app import celery_init_app
from shared.web import create_service_app

SERVICE = "notifications"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_service_app(SERVICE, config)
    celery_init_app(app, SERVICE)
    app.extensions["notifications"] = RedisNotifications(app.extensions["redis"], app.config["SETTINGS"])
    app.extensions["knobs"] = Knobs(app.extensions["redis"], app.config["SETTINGS"])
    app.register_blueprint(api)
    return app
