"""The event catalog over HTTP: `GET /asyncapi.json` (AsyncAPI 3.0) and the page `GET /catalog`.

Both ask the broker's management API which queues are bound to `shop.events` now; when it
does not answer, they serve the static contract and topology (the page says so).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pika
from flask import Blueprint, Response, current_app, render_template
from redis import RedisError

from services.dashboard.broker_map import ManagementUnavailable, build_map
from services.dashboard.event_catalog import RATE_WINDOW_S, catalog_view, event_rates, live_document
from services.dashboard.feed import FEED_MAX_EVENTS
from services.dashboard.routes import asset_version
from shared.asyncapi import Broker
from shared.broker import broker_urls

catalog = Blueprint("catalog", __name__, template_folder="templates")


@catalog.get("/asyncapi.json")
def asyncapi() -> Response:
    """In the contract's order (jsonify would sort it), so it reads as the contract does."""
    broker_map, _problem = _broker_map()
    document = live_document(broker_map["subscribers"], _broker())
    return Response(json.dumps(document, indent=2), mimetype="application/json")


@catalog.get("/catalog")
def catalog_page() -> str:
    broker_map, problem = _broker_map()
    document = live_document(broker_map["subscribers"], _broker())
    queues = {subscriber["service"]: subscriber for subscriber in broker_map["subscribers"]}
    return render_template(
        "catalog.html",
        version=asset_version(),
        events=catalog_view(document, queues, _rates()),
        exchange=broker_map.get("exchange"),
        problem=problem,
        rate_window_s=RATE_WINDOW_S,
    )


def _broker_map() -> tuple[dict[str, Any], str | None]:
    """The broker's view of the subscribers, or none and why."""
    try:
        return build_map(current_app.extensions["management"].state(), {}), None
    except ManagementUnavailable as exc:
        return {"subscribers": []}, str(exc)


def _broker() -> Broker:
    """Where the broker is as the dashboard reaches it, without its credentials: the first node
    AMQP_URL lists (the document names one server; every node serves the same vhost)."""
    parameters = pika.URLParameters(broker_urls(current_app.config["SETTINGS"].amqp_url)[0])
    return Broker(host=f"{parameters.host}:{parameters.port}", vhost=parameters.virtual_host)


def _rates() -> dict[str, float]:
    """Each type's rate among the events the dashboard's feed took in; none if Redis is away."""
    now_ms = int(time.time() * 1000)
    feed_key = current_app.config["SETTINGS"].key("feed")
    try:
        entries = current_app.extensions["redis"].xrevrange(
            feed_key, min=now_ms - RATE_WINDOW_S * 1000, count=FEED_MAX_EVENTS
        )
    except RedisError:
        return {}
    return event_rates(entries, now_ms, RATE_WINDOW_S)
