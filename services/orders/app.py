"""The orders web process: `gunicorn 'services.orders.app:create_app()'`."""

from __future__ import annotations

from typing import Any

from flask import Flask

from services.orders.api import api
from services.orders.settings import SERVICE, OrdersSettings
from services.orders.store import OrderStore
from shared.web import create_service_app


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_service_app(OrdersSettings(service=SERVICE), config)
    app.extensions["order_store"] = OrderStore(app.extensions["redis"], app.config["SETTINGS"])
    app.register_blueprint(api)
    return app
