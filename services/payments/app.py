"""The payments web process (`gunicorn 'services.payments.app:create_app()'`) and the Flask
app the payments worker builds on: settings, Redis, Celery."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.payments import bootstrap
from services.payments.api import OPERATIONS, api
from services.payments.ledger import RedisLedger
from services.payments.settings import SERVICE, PaymentsSettings
from shared.celery_app import celery_init_app
from shared.web import create_service_app


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_service_app(PaymentsSettings(service=SERVICE), config, OPERATIONS)
    celery_init_app(app)
    settings, redis = app.config["SETTINGS"], app.extensions["redis"]
    app.extensions["ledger"] = RedisLedger(redis, settings)
    app.extensions["gateway"] = bootstrap.gateway(settings, redis)
    app.register_blueprint(api)
    return app
