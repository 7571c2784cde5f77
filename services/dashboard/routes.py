"""HTTP endpoints of the dashboard, by concern: the page, the live stream, the broker views, the shop."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import requests
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
)
from pydantic import BaseModel, ConfigDict, RootModel, ValidationError

from services.dashboard import feed
from services.dashboard.broker_map import ManagementUnavailable, build_map
from services.dashboard.dead_letters import NoSuchQueue
from services.dashboard.view import NOT_SHOWN, DashboardView, Snapshot
from shared.contract import EVENT_TYPES
from shared.openapi import Operation
from shared.web import invalid, operator_only, operator_refused

STATIC = Path(__file__).parent / "static"

ui = Blueprint("ui", __name__, static_folder="static", static_url_path="/assets", template_folder="templates")
live = Blueprint("live", __name__)
api = Blueprint("api", __name__)
shop = Blueprint("shop", __name__)


# ---- the page --------------------------------------------------------------------


@cache
def asset_version() -> str:
    """Changes whenever a static file does, so browsers never run a stale script. The modules
    app.js imports carry no version: static files are served `no-cache`, so always revalidated."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@ui.get("/")
def index() -> str:
    return render_template("index.html", version=asset_version())


@ui.get("/api/event-types")
def event_types() -> Response:
    """The types of shared/contract.py the page shows, for its filters before any event arrives."""
    return jsonify(event_types=[name for name in EVENT_TYPES if name not in NOT_SHOWN])


# ---- live stream -----------------------------------------------------------------


RETRY_STREAM_AFTER_S = 5


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), allow_nan=False)}\n\n"


@live.get("/api/stream")
def stream() -> Response | tuple[Response, int, dict[str, str]]:
    """Server-Sent Events: one `snapshot` of recent history, then `updates` as events arrive.

    Each stream holds a thread of the web process, so a process serves MAX_STREAMS at most;
    past that a browser is told to come back (its EventSource gives up on a 503: the page
    reconnects by itself). History and updates both come from the dashboard's feed in Redis.
    """
    config = current_app.config
    slots = current_app.extensions["stream_slots"]
    if not slots.acquire(blocking=False):
        answer = jsonify(
            error="Too many live streams",
            detail=f"this dashboard process serves {config['MAX_STREAMS']} live streams at most: "
            f"retry in {RETRY_STREAM_AFTER_S} s",
        )
        return answer, 503, {"Retry-After": str(RETRY_STREAM_AFTER_S)}
    redis = current_app.extensions["redis"]
    feed_key = config["SETTINGS"].key("feed")

    def generate() -> Iterator[str]:
        position = feed.last_id(redis, feed_key)  # history up to here, live after it: no gap, no overlap
        since_ms = int((time.time() - config["HISTORY_WINDOW_S"]) * 1000)
        view, snapshot = DashboardView(), Snapshot(max_items=config["SNAPSHOT_ITEMS"])
        for event in feed.recent(redis, feed_key, position, since_ms, config["HISTORY_MAX_EVENTS"]):
            if (update := view.apply(event)) is not None:
                snapshot.add(update)
        yield "retry: 2000\n"
        yield _sse("snapshot", {**snapshot.to_json(view), "window_s": config["HISTORY_WINDOW_S"]})
        closes_at = time.monotonic() + config["STREAM_MAX_S"]
        quiet_since = time.monotonic()
        while time.monotonic() < closes_at:
            position, events = feed.follow(redis, feed_key, position, block_ms=1000)
            updates = [u.to_json() for e in events if (u := view.apply(e)) is not None]
            if updates:
                yield _sse("updates", updates)
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > config["KEEPALIVE_S"]:
                yield ": keep-alive\n\n"  # also how a closed browser tab is noticed
                quiet_since = time.monotonic()

    response = Response(
        generate(),  # reads only what it was given: no request context held for minutes
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.call_on_close(slots.release)  # also when the browser left before the first byte
    return response


# ---- broker views: the map and the dead letters ---------------------------------


@api.get("/api/map")
def broker_map() -> tuple[Response, int]:
    try:
        state = current_app.extensions["management"].state()
    except ManagementUnavailable as exc:
        return jsonify(
            error="Broker management API unavailable",
            detail=f"{exc} (enable it with `rabbitmq-plugins enable rabbitmq_management`)",
        ), 503
    redis = current_app.extensions["redis"]
    rates = feed.publish_rates(redis, current_app.config["SETTINGS"].key("feed"))
    return jsonify(build_map(state, rates)), 200


@api.get("/api/dead-letters/<service>")
@operator_only
def dead_letters(service: str) -> Response:
    try:
        depth, letters = current_app.extensions["dead_letters"].peek(service)
    except NoSuchQueue:
        abort(404, description=f"no dead-letter queue for service {service!r}")
    return jsonify(service=service, depth=depth, messages=[letter.to_json() for letter in letters])


class ReplayRequest(BaseModel):
    """`{}` replays every message of the DLQ, `{"key": ...}` the one with that key."""

    model_config = ConfigDict(strict=True, frozen=True)

    key: str | None = None


@api.post("/api/dead-letters/<service>/replay")
@operator_only
def replay(service: str) -> Response:
    """Replay one message or all; JSON only, so no other site can post it."""
    if not request.is_json:
        abort(415, description='send a JSON body: {} to replay all, {"key": "..."} for one')
    try:
        key = ReplayRequest.model_validate_json(request.get_data(cache=False)).key
    except ValidationError as exc:
        return invalid(400, exc)
    try:
        replayed = current_app.extensions["dead_letters"].replay(service, key)
    except NoSuchQueue:
        abort(404, description=f"no dead-letter queue for service {service!r}")
    if key is not None and replayed == 0:
        abort(404, description=f"key: message {key} is no longer in {service}.dlq")
    return jsonify(service=service, replayed=replayed)


# ---- the shop: a same-origin window on the public orders API --------------------


@shop.get("/api/shop/catalog")
def catalog() -> Response:
    return _to_orders("GET", "/api/catalog")


@shop.post("/api/shop/orders")
def place_order() -> Response:
    """A burst's orders carry the operator token: a wrong one is refused here, a right one
    passes orders' rate limit."""
    if "Authorization" in request.headers and (refused := operator_refused()):
        return refused
    return _to_orders("POST", "/api/orders")


def _to_orders(method: str, path: str) -> Response:
    """Forward to the orders API as the browser would call it; nothing else is reachable this way.
    A burst carries the operator's token, which orders' rate limit lets through."""
    headers = {
        name: value
        for name in ("Content-Type", "Idempotency-Key", "Authorization")
        if (value := request.headers.get(name)) is not None
    }
    url = current_app.config["ORDERS_URL"].rstrip("/") + path
    try:
        answer = current_app.extensions["orders_session"].request(
            method, url, data=request.get_data(), headers=headers, timeout=10
        )
    except requests.RequestException:
        abort(502, description=f"the orders API does not answer at {current_app.config['ORDERS_URL']}")
    response = Response(
        answer.content, status=answer.status_code, content_type=answer.headers.get("Content-Type")
    )
    if "Retry-After" in answer.headers:
        response.headers["Retry-After"] = answer.headers["Retry-After"]
    return response


# ---- what the OpenAPI document says the routes answer --------------------------------


class EventTypes(BaseModel):
    event_types: list[str]


class BrokerMap(RootModel[dict[str, Any]]):
    """Services, queues and their rates as services/dashboard/broker_map.py draws them."""


class DeadLetterQueue(BaseModel):
    service: str
    depth: int
    messages: list[dict[str, Any]]


class Replayed(BaseModel):
    service: str
    replayed: int


class DlqPath(BaseModel):
    service: str


class AsyncApiDocument(RootModel[dict[str, Any]]):
    """The event catalog, AsyncAPI 3.0 (services/dashboard/catalog_routes.py)."""


class OrderRequest(RootModel[dict[str, Any]]):
    """An order as the orders API takes it (see the orders service's document)."""


class OrdersAnswer(RootModel[dict[str, Any]]):
    """What the orders API answered, passed on as it is (see the orders service's document)."""


OPERATIONS = (
    Operation("get", "/api/event-types", "The event types the page shows", {200: EventTypes}),
    Operation("get", "/api/map", "The broker map", {200: BrokerMap, 503: None}),
    Operation("get", "/asyncapi.json", "The event catalog (AsyncAPI 3.0)", {200: AsyncApiDocument}),
    Operation(
        "get",
        "/api/dead-letters/{service}",
        "Peek at a service's dead letters (an operator's)",
        {200: DeadLetterQueue, 404: None},
        path_params=DlqPath,
        operator=True,
    ),
    Operation(
        "post",
        "/api/dead-letters/{service}/replay",
        "Replay one dead letter or all of them (an operator's)",
        {200: Replayed, 400: None, 404: None, 413: None, 415: None},
        body=ReplayRequest,
        path_params=DlqPath,
        operator=True,
    ),
    Operation("get", "/api/shop/catalog", "The orders API's catalog", {200: OrdersAnswer, 502: None}),
    Operation(
        "post",
        "/api/shop/orders",
        "Place an order through the orders API",
        {status: OrdersAnswer for status in (202, 400, 415, 422, 429, 503)}
        | {401: None, 413: None, 502: None},
        body=OrderRequest,
    ),
)
