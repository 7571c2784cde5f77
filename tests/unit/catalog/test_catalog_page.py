"""The dashboard's catalog with small fakes for the broker and the feed: the static contract
when the broker is away, a subscriber the broker reports added to it, and what the page shows."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.dashboard.app import create_app
from services.dashboard.broker_map import BrokerState, ManagementUnavailable
from services.dashboard.event_catalog import catalog_view, event_rates, live_document, subscriptions
from shared.asyncapi import Broker
from shared.contract import EVENT_TYPES
from shared.topology import EVENT_LOG, EVENTS_EXCHANGE


def bound(queue: str, *keys: str) -> list[dict[str, Any]]:
    return [
        {"source": EVENTS_EXCHANGE, "destination": queue, "destination_type": "queue", "routing_key": key}
        for key in keys
    ]


class UnreachableManagement:
    def state(self) -> BrokerState:
        raise ManagementUnavailable("connection refused")


class BrokerWithLoyalty:
    """The core queues and, since `make start SERVICE=loyalty`, loyalty's."""

    def state(self) -> BrokerState:
        queues = [
            {
                "name": "loyalty",
                "messages": 3,
                "consumers": 1,
                "message_stats": {"publish_details": {"rate": 1.5}},
            },
            {"name": "payments", "messages": 0, "consumers": 2},
        ]
        bindings = [
            *bound(EVENT_LOG, "#"),
            *bound("payments", "order.placed"),
            *bound("loyalty", "order.placed", "order.confirmed"),
        ]
        return BrokerState(queues=queues, consumers=[], connections=[], bindings=bindings, exchange={})


class FakeFeed:
    """The dashboard's Redis, holding feed entries (XREVRANGE's answer) appended just now."""

    def __init__(self, *types: str) -> None:
        self.types = types

    def xrevrange(self, key: str, **_bounds: Any) -> list[tuple[str, dict[str, str]]]:
        now_ms = int(time.time() * 1000)
        return [(f"{now_ms}-{n}", {"type": event_type}) for n, event_type in enumerate(self.types)]


def client_with(management: Any, feed: FakeFeed | None = None) -> FlaskClient:
    app = create_app()
    app.extensions["management"] = management
    app.extensions["redis"] = feed or FakeFeed()
    return app.test_client()


def test_without_the_broker_the_contract_with_its_publishers_is_served() -> None:
    doc = client_with(UnreachableManagement()).get("/asyncapi.json").get_json()

    assert doc["asyncapi"] == "3.0.0"
    assert list(doc["channels"]) == list(EVENT_TYPES)
    assert "orders.send.order.placed" in doc["operations"]
    receivers = {name.split(".")[0] for name, op in doc["operations"].items() if op["action"] == "receive"}
    assert receivers == {"dashboard"}  # which queues are bound, only the broker knows


def test_a_queue_the_broker_has_bound_appears_as_a_receiver() -> None:
    doc = client_with(BrokerWithLoyalty()).get("/asyncapi.json").get_json()

    loyalty = {name for name in doc["operations"] if name.startswith("loyalty.")}
    assert loyalty == {"loyalty.receive.order.placed", "loyalty.receive.order.confirmed"}
    assert "payments.receive.order.placed" in doc["operations"]


def test_the_page_shows_publishers_consumers_fields_examples_and_rates() -> None:
    page = client_with(BrokerWithLoyalty(), FakeFeed("order.placed", "order.placed")).get("/catalog")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for event_type in EVENT_TYPES:
        assert f'data-event-type="{event_type}"' in html
    assert 'data-testid="consumer" data-service="loyalty"' in html
    assert "1 consumers · 3 waiting · 1.5/s in" in html
    assert 'data-field="items[].qty"' in html
    assert "&#34;payment_token&#34;: &#34;tok_visa&#34;" in html  # the example, escaped
    assert 'data-testid="broker-problem"' not in html


def test_the_page_says_when_the_broker_does_not_answer() -> None:
    html = client_with(UnreachableManagement()).get("/catalog").get_data(as_text=True)

    assert 'data-testid="broker-problem"' in html
    assert "connection refused" in html


def test_the_dashboard_page_links_to_the_catalog() -> None:
    assert b'href="/catalog"' in client_with(UnreachableManagement()).get("/").data


def test_the_dashboards_own_subscription_and_the_brokers_are_merged() -> None:
    table = subscriptions([{"service": "loyalty", "bindings": ["order.placed"]}])

    assert table == {"dashboard": ("#",), "loyalty": ("order.placed",)}


def test_rates_count_each_type_in_the_window_only() -> None:
    now_ms = 1_000_000
    entries = [
        (f"{now_ms - 1000}-0", {"type": "order.placed"}),
        (f"{now_ms - 90_000}-0", {"type": "order.placed"}),
    ]

    assert event_rates(entries, now_ms, 60) == {"order.placed": round(1 / 60, 2)}


@pytest.fixture(scope="module")
def view() -> dict[str, dict[str, Any]]:
    doc = live_document([], Broker())
    return {entry["type"]: entry for entry in catalog_view(doc, {}, {"order.placed": 2.5})}


def test_the_view_reads_bounds_as_a_person_would(view) -> None:
    fields = {field["name"]: field for field in view["order.placed"]["fields"]}

    assert fields["items"]["type"] == "array of OrderLine"
    assert fields["items"]["bounds"] == ["1 to 1000 items"]
    assert fields["items[].qty"]["bounds"] == ["0 < n ≤ 10000"]
    assert fields["customer_email"]["bounds"][0] == "at most 254 characters"
    assert view["order.placed"]["rate"] == 2.5


def test_a_type_nobody_publishes_says_so(view) -> None:
    heartbeat = view["service.heartbeat"]

    assert heartbeat["publisher"] is None
    assert {field["name"]: field["type"] for field in heartbeat["fields"]}["queue"] == "string or null"
