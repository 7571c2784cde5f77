"""The orders web process: `gunicorn 'services.orders.app:create_app()'`."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from services.orders.api import OPERATIONS, api, place_order
from services.orders.settings import SERVICE, OrdersSettings
from services.orders.store import OrderStore
from shared.web import create_service_app, is_operator


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = OrdersSettings(service=SERVICE)
    app = create_service_app(settings, {**rate_limit_config(settings), **(config or {})}, OPERATIONS)
    app.extensions["order_store"] = OrderStore(app.extensions["redis"], settings)
    app.register_blueprint(api)
    limit_placing_per_client(app)
    return app


def rate_limit_config(settings: OrdersSettings) -> dict[str, Any]:
    """Flask-Limiter's settings: counted in orders' own Redis, as orders' own user, under keys
    `orders:ratelimit:...` (its ACL namespace), so every web worker shares the count."""
    return {
        "ORDERS_RATE_LIMIT": settings.orders_rate_limit,
        "RATELIMIT_STORAGE_URI": settings.redis_url,
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": settings.key("ratelimit")},
        "RATELIMIT_STRATEGY": "fixed-window",
        # no X-RateLimit-* headers on every answer: each costs two more Redis round trips per
        # order (the window's state); a refusal says when to retry (api._too_many)
        "RATELIMIT_HEADERS_ENABLED": False,
    }


def limit_placing_per_client(app: Flask) -> None:
    """`POST /api/orders` at most ORDERS_RATE_LIMIT per client address; an operator (a burst
    from the dashboard) is not limited."""
    limiter = Limiter(get_remote_address, app=app)
    limited = limiter.limit(lambda: app.config["ORDERS_RATE_LIMIT"], exempt_when=is_operator)(place_order)
    app.view_functions[f"{api.name}.{place_order.__name__}"] = limited
