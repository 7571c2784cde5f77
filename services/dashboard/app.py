"""The dashboard's web process: the page, its live stream (SSE) and a few JSON endpoints.

It reads only what any subscriber may read (its own feed, its dead-letter queues, the
broker's management API) and forwards the browser's shop requests to the public orders API.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from flask import Flask, Response
from requests.adapters import HTTPAdapter

from services.dashboard.broker_map import Management
from services.dashboard.catalog_routes import catalog
from services.dashboard.dead_letters import DeadLetterQueues
from services.dashboard.journey_routes import OPERATIONS as JOURNEY_OPERATIONS
from services.dashboard.journey_routes import journey
from services.dashboard.routes import OPERATIONS, api, live, shop, ui
from services.dashboard.settings import SERVICE, DashboardSettings
from shared.web import create_service_app

SECURITY_HEADERS = {
    # everything is served by the dashboard itself: no CDN, no inline script
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def default_config(settings: DashboardSettings) -> dict[str, Any]:
    return {
        "ORDERS_URL": settings.orders_api,
        "MANAGEMENT_URL": settings.management_url,
        "HISTORY_WINDOW_S": settings.dashboard_history_window_s,
        "HISTORY_MAX_EVENTS": settings.dashboard_history_max_events,
        "SNAPSHOT_ITEMS": 1500,
        "STREAM_MAX_S": 300,  # then the browser reconnects: no stream outlives a deploy by long
        "MAX_STREAMS": settings.dashboard_max_streams,  # per web process
        "KEEPALIVE_S": 5,
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = DashboardSettings(service=SERVICE)
    app = create_service_app(
        settings, {**default_config(settings), **(config or {})}, OPERATIONS + JOURNEY_OPERATIONS
    )
    app.extensions["management"] = Management(app.config["MANAGEMENT_URL"], settings.amqp_url)
    app.extensions["dead_letters"] = DeadLetterQueues(settings.amqp_url)
    app.extensions["stream_slots"] = threading.BoundedSemaphore(app.config["MAX_STREAMS"])
    orders = requests.Session()
    orders.mount("http://", HTTPAdapter(pool_maxsize=32))
    app.extensions["orders_session"] = orders
    for blueprint in (ui, live, api, shop, catalog, journey):
        app.register_blueprint(blueprint)
    app.after_request(_secure)
    return app


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
