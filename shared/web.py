"""What every service's web process has: /healthz, /readyz, /metrics, /openapi.json, JSON
errors, the Host allowlist (TRUSTED_HOSTS) and the operator token check."""

from __future__ import annotations

import functools
import hmac
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, ParamSpec, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError
from redis import Redis
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from shared.broker import blocking_connection
from shared.logs import configure_logging
from shared.metrics import ServiceMetrics
from shared.openapi import Operation, document
from shared.settings import Settings
from shared.tracing import start_tracing, trace_flask_app

ops = Blueprint("ops", __name__)
_BROKER_CHECK_TTL_S = 2.0
API_VERSION = "1"
Params = ParamSpec("Params")
Result = TypeVar("Result")


def create_service_app(
    settings: Settings, config: dict[str, Any] | None = None, operations: Iterable[Operation] = ()
) -> Flask:
    """The common base of each service's `create_app`: settings, Redis, ops, errors, and the
    OpenAPI document of `operations` (the service's own routes) with the ops routes."""
    app = Flask(settings.service)
    app.config.update(
        MAX_CONTENT_LENGTH=64 * 1024,
        SETTINGS=settings,
        TRUSTED_HOSTS=list(settings.trusted_hosts),
        OPERATOR_TOKEN=settings.operator_token.get_secret_value(),
    )
    app.config.update(config or {})
    app.extensions["openapi"] = document(settings.service, API_VERSION, [*OPS_OPERATIONS, *operations])
    configure_logging(settings, "api")
    start_tracing(settings.service, "api")
    trace_flask_app(app)
    redis = settings.connect_redis()
    app.extensions["redis"] = redis
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceMetrics(redis, settings.key("metrics")))
    app.extensions["metrics_registry"] = registry
    app.register_blueprint(ops)
    app.register_error_handler(HTTPException, _json_http_error)
    return app


def refusal(status: int, field: str, reason: str, errors: list[dict[str, Any]] | None = None) -> Response:
    """The one error body of every service (`shared.openapi.ErrorBody`): what to fix, and where."""
    response = jsonify(
        error=HTTP_STATUS_CODES.get(status, "Error"),
        detail=f"{field}: {reason}",
        field=field,
        errors=errors or [{"field": field, "reason": reason}],
    )
    response.status_code = status
    return response


def invalid(status: int, exc: ValidationError) -> Response:
    """A refusal naming every field pydantic found at fault (the first one in `field`)."""
    errors = field_errors(exc)
    return refusal(status, errors[0]["field"], errors[0]["reason"], errors)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"field": _field_name(error["loc"]), "reason": error["msg"]} for error in exc.errors()]


def _field_name(loc: tuple[int | str, ...]) -> str:
    """`items[0].qty` from pydantic's ("items", 0, "qty"); `body` for the whole of it."""
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}" if name else str(part)
    return name or "body"


def _json_http_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify(error=error.name, detail=error.description), error.code or 500


def operator_only(view: Callable[Params, Result]) -> Callable[Params, Result | Response]:
    """An operator action: refused with 401 unless `Authorization: Bearer <OPERATOR_TOKEN>`
    is sent, and refused to everyone while the service has no OPERATOR_TOKEN (never open)."""

    @functools.wraps(view)
    def checked(*args: Params.args, **kwargs: Params.kwargs) -> Result | Response:
        return operator_refused() or view(*args, **kwargs)

    return checked


def operator_refused() -> Response | None:
    """The 401 for a request that is not an operator's (None for one that is)."""
    if not current_app.config["OPERATOR_TOKEN"]:
        reason = "operator actions are off: this service was started without OPERATOR_TOKEN"
    elif not is_operator():
        reason = "send `Authorization: Bearer <OPERATOR_TOKEN>` (the token `make run` prints)"
    else:
        return None
    response = refusal(401, "Authorization", reason)
    response.headers["WWW-Authenticate"] = 'Bearer realm="operator"'
    return response


def is_operator() -> bool:
    """The request carries the service's operator token (compared in constant time)."""
    expected = current_app.config["OPERATOR_TOKEN"]
    given = request.authorization
    if not expected or given is None or given.type != "bearer" or not given.token:
        return False
    return hmac.compare_digest(given.token.encode(), expected.encode())


@ops.get("/openapi.json")
def openapi() -> Response:
    return jsonify(current_app.extensions["openapi"])


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
    """Open (and close) a real AMQP connection to any node, at most every two seconds."""
    checked_at, ok = _broker_checked.get(amqp_url, (0.0, False))
    if time.monotonic() - checked_at < _BROKER_CHECK_TTL_S:
        return ok
    try:
        blocking_connection(amqp_url).close()
        ok = True
    except Exception:
        ok = False
    _broker_checked[amqp_url] = (time.monotonic(), ok)
    return ok


class Health(BaseModel):
    status: Literal["ok"]
    service: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, bool]


OPS_OPERATIONS = (
    Operation("get", "/healthz", "The process answers", {200: Health}),
    Operation("get", "/readyz", "Redis and the broker answer", {200: Readiness, 503: Readiness}),
)
