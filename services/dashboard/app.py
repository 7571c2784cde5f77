"""The dashboard's web process: the page, its live stream (SSE) and a few JSON endpoints.

It reads only what any subscriber may read (its own feed, the event log, the broker's
management API) and forwards the browser's shop requests to the public orders API.
"""

from __future__ import annotations

import os
from typing import Any

import requests
from flask import Flask, Response
from requests.adapters import HTTPAdapter

from services.dashboard.broker_map import Management
from services.dashboard.dead_letters import DeadLetterQueues
from services.dashboard.routes import api, live, shop, ui
from shared.web import create_service_app

SERVICE = "dashboard"
SECURITY_HEADERS = {
    # everything is served by the dashboard itself: no CDN, no inline script
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def default_config() -> dict[str, Any]:
    return {
        "ORDERS_URL": os.environ.get("ORDERS_URL")
        or f"http://127.0.0.1:{os.environ.get('ORDERS_PORT', '8001')}",
        "MANAGEMENT_URL": os.environ.get("MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672"),
        "HISTORY_WINDOW_S": int(os.environ.get("DASHBOARD_HISTORY_WINDOW_S", 15 * 60)),
        "HISTORY_MAX_EVENTS": int(os.environ.get("DASHBOARD_HISTORY_MAX_EVENTS", 5000)),
        "SNAPSHOT_ITEMS": 1500,
        "STREAM_MAX_S": 300,  # then the browser reconnects: no stream outlives a deploy by long
        "KEEPALIVE_S": 5,
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = create_service_app(SERVICE, {**default_config(), **(config or {})})
    settings = app.config["SETTINGS"]
    app.extensions["management"] = Management(app.config["MANAGEMENT_URL"], settings.amqp_url)
    app.extensions["dead_letters"] = DeadLetterQueues(settings.amqp_url)
    orders = requests.Session()
    orders.mount("http://", HTTPAdapter(pool_maxsize=32))
    app.extensions["orders_session"] = orders
    for blueprint in (ui, live, api, shop):
        app.register_blueprint(blueprint)
    app.after_request(_secure)
    return app


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
