"""What every service's web process has: /healthz, /readyz, /metrics and JSON errors."""

from __future__ import annotations

import time
from typing import Any

import pika
from flask import Blueprint, Flask, Response, current_app, jsonify
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from redis import Redis
from werkzeug.exceptions import HTTPException

from shared.logs import configure_logging
from shared.metrics import ServiceMetrics
from shared.settings import Settings

ops = Blueprint("ops", __name__)
_BROKER_CHECK_TTL_S = 2.0


def create_service_app(settings: Settings, config: dict[str, Any] | None = None) -> Flask:
    """The common base of each service's `create_app`: settings, Redis, ops, errors."""
    app = Flask(settings.service)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, SETTINGS=settings)
    app.config.update(config or {})
    configure_logging(settings, "api")
    redis = settings.connect_redis()
    app.extensions["redis"] = redis
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceMetrics(redis, settings.key("metrics")))
    app.extensions["metrics_registry"] = registry
    app.register_blueprint(ops)
    app.register_error_handler(HTTPException, _json_http_error)
    return app


def _json_http_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify(error=error.name, detail=error.description), error.code or 500


@ops.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok", service=current_app.name)


@ops.get("/readyz")
def readyz() -> tuple[Response, int]:
    settings: Settings = current_app.config["SETTINGS"]
    checks = {"redis": _redis_ok(current_app.extensions["redis"]), "broker": _broker_ok(settings.amqp_url)}
    ready = all(checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@ops.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(current_app.extensions["metrics_registry"]), mimetype=CONTENT_TYPE_LATEST)


def _redis_ok(redis: Redis) -> bool:
    try:
        return bool(redis.ping())
    except Exception:
        return False


_broker_checked: dict[str, tuple[float, bool]] = {}


def _broker_ok(amqp_url: str) -> bool:
    """Open (and close) a real AMQP connection, at most every two seconds."""
    checked_at, ok = _broker_checked.get(amqp_url, (0.0, False))
    if time.monotonic() - checked_at < _BROKER_CHECK_TTL_S:
        return ok
    params = pika.URLParameters(amqp_url)
    params.socket_timeout = params.blocked_connection_timeout = 2
    params.connection_attempts = 1
    try:
        pika.BlockingConnection(params).close()
        ok = True
    except Exception:
        ok = False
    _broker_checked[amqp_url] = (time.monotonic(), ok)
    return ok
