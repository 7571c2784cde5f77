"""The orders HTTP API (blueprint): the catalog, placing orders, reading them back.

Every refusal is a JSON body `{"error", "detail", "errors": [{"field", "reason"}]}` that
names what to fix. A POST costs one Redis round trip (a Lua script); nothing is written
unless the whole request is valid. Payment tokens are never echoed back.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from pydantic import ValidationError
from redis import RedisError
from werkzeug.exceptions import RequestEntityTooLarge

from services.orders import handlers
from services.orders.catalog import CURRENCY, PRODUCTS
from services.orders.commands import InvalidJson, field_errors, parse_place_order
from services.orders.model import Order, OrderStatus
from services.orders.store import IdempotencyConflict, OrderStore

api = Blueprint("orders_api", __name__, url_prefix="/api")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_HEADER_VALUE = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, no spaces


def _store() -> OrderStore:
    return current_app.extensions["order_store"]


def _refuse(status: int, field: str, reason: str, errors: list[dict[str, Any]] | None = None) -> Response:
    response = jsonify(
        error=_REASONS[status],
        detail=f"{field}: {reason}",
        errors=errors or [{"field": field, "reason": reason}],
    )
    response.status_code = status
    return response


_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    503: "Service Unavailable",
}


@api.errorhandler(RedisError)
def _store_unavailable(error: RedisError) -> Response:
    current_app.logger.error("order store unavailable: %s", error)
    return _refuse(503, "store", "temporarily unavailable, retry (with the same Idempotency-Key)")


@api.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> Response:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return _refuse(413, "body", f"larger than {limit} bytes")


@api.get("/catalog")
def catalog() -> Response:
    return jsonify(
        currency=CURRENCY,
        products=[
            {"sku": p.sku, "name": p.name, "unit_price_cents": p.unit_price_cents, "currency": p.currency}
            for p in PRODUCTS.values()
        ],
    )


@api.post("/orders")
def place_order() -> Response:
    if not request.is_json:
        return _refuse(415, "Content-Type", "must be application/json")
    headers = {}
    for header in ("Idempotency-Key", "X-Correlation-Id"):
        value = request.headers.get(header)
        if value is not None and not _HEADER_VALUE.match(value):
            return _refuse(400, header, "must be 1 to 255 visible ASCII characters")
        headers[header] = value
    try:
        command = parse_place_order(request.get_data(cache=False))
    except InvalidJson as exc:
        return _refuse(400, "body", f"not valid JSON ({exc})")
    except ValidationError as exc:
        errors = field_errors(exc)
        return _refuse(422, errors[0]["field"], errors[0]["reason"], errors)
    try:
        placement = handlers.place_order(
            command,
            _store(),
            idempotency_key=headers["Idempotency-Key"],
            correlation_id=headers["X-Correlation-Id"],
        )
    except IdempotencyConflict:
        return _refuse(422, "Idempotency-Key", "already used for a request with a different body")
    response = jsonify(order_json(placement.order))
    response.status_code = 202  # a repeat with the same Idempotency-Key answers exactly as the first
    response.headers["Location"] = url_for(".get_order", order_id=placement.order.id)
    return response


@api.get("/orders/<order_id>")
def get_order(order_id: str) -> Response:
    order = _store().get(order_id)
    if order is None:
        return _refuse(404, "order_id", f"no order {order_id!r}")
    return jsonify(order_json(order))


@api.get("/orders")
def list_orders() -> Response:
    raw_status = request.args.get("status")
    status = None
    if raw_status:
        try:
            status = OrderStatus(raw_status.upper())
        except ValueError:
            return _refuse(400, "status", f"must be one of {', '.join(OrderStatus)}")
    raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
    if not re.fullmatch(r"[0-9]{1,4}", raw_limit) or not 1 <= int(raw_limit) <= MAX_LIMIT:
        return _refuse(400, "limit", f"must be an integer from 1 to {MAX_LIMIT}")
    orders = _store().list(status, int(raw_limit))
    return jsonify(orders=[order_json(o) for o in orders], count=len(orders))


def order_json(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "status": order.status.value,
        "customer_email": order.customer_email,
        "items": [
            {
                "sku": line.sku,
                "name": line.name,
                "qty": line.qty,
                "unit_price_cents": line.unit_price_cents,
                "line_total_cents": line.total_cents,
            }
            for line in order.lines
        ],
        "total_cents": order.total_cents,
        "currency": order.currency,
        "created_at": order.placed_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
        "placed_at": order.placed_at.isoformat(),
        "confirmed_at": order.confirmed_at.isoformat() if order.confirmed_at else None,
        "cancelled_at": order.cancelled_at.isoformat() if order.cancelled_at else None,
        "cancel_reason": order.cancel_reason,
    }
