"""The orders HTTP API (blueprint): the catalog, placing orders, reading them back.

Every refusal is a JSON body `{"error", "detail", "errors": [{"field", "reason"}]}` that
names what to fix. A POST costs one Redis round trip (a Lua script); nothing is written
unless the whole request is valid. Payment tokens are never echoed back: they go to
payments on the bus and nowhere else. Listing every order is an operator's; one order's
id, which only its buyer was told, is enough to read that order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_limiter.errors import RateLimitExceeded
from pydantic import BaseModel, ValidationError
from redis import RedisError
from werkzeug.exceptions import RequestEntityTooLarge

from services.orders import handlers
from services.orders.catalog import CURRENCY, PRODUCTS
from services.orders.commands import (
    InvalidJson,
    ListOrders,
    OrderPath,
    PlaceOrder,
    PlaceOrderHeaders,
    parse_place_order,
)
from services.orders.model import Order, OrderStatus
from services.orders.store import IdempotencyConflict, OrderStore
from shared.openapi import Operation
from shared.web import invalid, operator_only, refusal

api = Blueprint("orders_api", __name__, url_prefix="/api")


def _store() -> OrderStore:
    return current_app.extensions["order_store"]


@api.errorhandler(RedisError)
def _store_unavailable(error: RedisError) -> Response:
    current_app.logger.error("order store unavailable: %s", error)
    return refusal(503, "store", "temporarily unavailable, retry (with the same Idempotency-Key)")


@api.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> Response:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return refusal(413, "body", f"larger than {limit} bytes")


@api.errorhandler(RateLimitExceeded)
def _too_many(error: RateLimitExceeded) -> Response:
    """`Retry-After`: the limit's window, by when its fixed window has certainly started again."""
    answer = refusal(429, "client", f"more orders than {error.description}: retry after Retry-After seconds")
    answer.headers["Retry-After"] = str(error.limit.limit.get_expiry())
    return answer


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
    """Rate-limited per client (ORDERS_RATE_LIMIT) by services/orders/app.py."""
    if not request.is_json:
        return refusal(415, "Content-Type", "must be application/json")
    try:
        headers = PlaceOrderHeaders.model_validate(
            {name: request.headers[name] for name in PlaceOrderHeaders.names() if name in request.headers}
        )
    except ValidationError as exc:
        return invalid(400, exc)
    try:
        command = parse_place_order(request.get_data(cache=False))
    except InvalidJson as exc:
        return refusal(400, "body", f"not valid JSON ({exc})")
    except ValidationError as exc:
        return invalid(422, exc)
    try:
        placement = handlers.place_order(
            command,
            _store(),
            idempotency_key=headers.idempotency_key,
            correlation_id=headers.correlation_id,
        )
    except IdempotencyConflict:
        return refusal(422, "Idempotency-Key", "already used for a request with a different body")
    response = jsonify(order_json(placement.order))
    response.status_code = 202  # a repeat with the same Idempotency-Key answers exactly as the first
    response.headers["Location"] = url_for(".get_order", order_id=placement.order.id)
    return response


@api.get("/orders/<order_id>")
def get_order(order_id: str) -> Response:
    order = _store().get(order_id)
    if order is None:
        return refusal(404, "order_id", f"no order {order_id!r}")
    return jsonify(order_json(order))


@api.get("/orders")
@operator_only
def list_orders() -> Response:
    try:
        query = ListOrders.model_validate(request.args.to_dict())
    except ValidationError as exc:
        return invalid(400, exc)
    orders = _store().list(query.status, query.limit)
    return jsonify(orders=[order_json(o) for o in orders], count=len(orders))


def order_json(order: Order) -> dict[str, Any]:
    """An order as the API shows it (`OrderView`): everything but its payment token."""
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


# ---- what the OpenAPI document says the routes answer --------------------------------


class Product(BaseModel):
    sku: str
    name: str
    unit_price_cents: int
    currency: str


class Catalog(BaseModel):
    currency: str
    products: list[Product]


class OrderLineView(BaseModel):
    sku: str
    name: str
    qty: int
    unit_price_cents: int
    line_total_cents: int


class OrderView(BaseModel):
    id: str
    status: OrderStatus
    customer_email: str
    items: list[OrderLineView]
    total_cents: int
    currency: str
    created_at: datetime
    updated_at: datetime
    placed_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class OrderList(BaseModel):
    orders: list[OrderView]
    count: int


OPERATIONS = (
    Operation("get", "/api/catalog", "What is on sale", {200: Catalog}),
    Operation(
        "post",
        "/api/orders",
        "Place an order (202: accepted; payment and confirmation follow as events)",
        {202: OrderView, 400: None, 413: None, 415: None, 422: None, 429: None, 503: None},
        body=PlaceOrder,
        headers=PlaceOrderHeaders,
        response_headers={
            202: {"Location": "where the order can be read"},
            429: {"Retry-After": "seconds until this client may place orders again"},
        },
    ),
    Operation(
        "get",
        "/api/orders/{order_id}",
        "One order",
        {200: OrderView, 404: None, 503: None},
        path_params=OrderPath,
    ),
    Operation(
        "get",
        "/api/orders",
        "Every order, newest first (an operator's)",
        {200: OrderList, 400: None, 503: None},
        query=ListOrders,
        operator=True,
    ),
)
