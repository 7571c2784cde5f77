"""HTTP endpoints of the dashboard, by concern: the page, the live stream, the broker views, the shop."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pika.exceptions
import requests
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    stream_with_context,
)

from services.dashboard import feed
from services.dashboard.broker_map import ManagementUnavailable, build_map
from services.dashboard.dead_letters import NoSuchQueue
from services.dashboard.view import NOT_SHOWN, DashboardView, Snapshot
from shared.contract import EVENT_TYPES, publisher_users

log = logging.getLogger(__name__)
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


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@live.get("/api/stream")
def stream() -> Response:
    """Server-Sent Events: one `snapshot` of recent history, then `updates` as events arrive."""
    config = current_app.config
    redis = current_app.extensions["redis"]
    feed_key = config["SETTINGS"].key("feed")
    settings = config["SETTINGS"]
    amqp_url, senders = settings.amqp_url, publisher_users(settings.amqp_user, settings.service)

    def generate() -> Iterator[str]:
        position = feed.last_id(redis, feed_key)  # before reading history: no gap between the two
        now = datetime.now(UTC)
        view, snapshot = DashboardView(), Snapshot(max_items=config["SNAPSHOT_ITEMS"])
        try:
            since = now - timedelta(seconds=config["HISTORY_WINDOW_S"])
            history = feed.recent_history(amqp_url, since, now, config["HISTORY_MAX_EVENTS"], senders)
        except (pika.exceptions.AMQPError, OSError) as exc:
            log.warning("event log unreadable, starting without history: %s", exc)
            history = []
        for event in history:
            update = view.apply(event)
            if update is not None:
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

    return Response(
        stream_with_context(generate()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


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
def dead_letters(service: str) -> Response:
    try:
        depth, letters = current_app.extensions["dead_letters"].peek(service)
    except NoSuchQueue:
        abort(404, description=f"no dead-letter queue for service {service!r}")
    return jsonify(service=service, depth=depth, messages=[letter.to_json() for letter in letters])


@api.post("/api/dead-letters/<service>/replay")
def replay(service: str) -> Response:
    """Replay one message (`{"key": ...}`) or all (`{}`); JSON only, so no other site can post it."""
    if not request.is_json:
        abort(415, description='send a JSON body: {} to replay all, {"key": "..."} for one')
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description='body: must be a JSON object: {} to replay all, {"key": "..."} for one')
    key = body.get("key")
    if key is not None and not isinstance(key, str):
        abort(400, description="key: must be a string (a message key from the dead-letter list)")
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
    return _to_orders("POST", "/api/orders")


def _to_orders(method: str, path: str) -> Response:
    """Forward to the orders API as the browser would call it; nothing else is reachable this way."""
    headers = {
        name: value
        for name in ("Content-Type", "Idempotency-Key")
        if (value := request.headers.get(name)) is not None
    }
    url = current_app.config["ORDERS_URL"].rstrip("/") + path
    try:
        answer = current_app.extensions["orders_session"].request(
            method, url, data=request.get_data(), headers=headers, timeout=10
        )
    except requests.RequestException:
        abort(502, description=f"the orders API does not answer at {current_app.config['ORDERS_URL']}")
    return Response(
        answer.content, status=answer.status_code, content_type=answer.headers.get("Content-Type")
    )
