"""One order's journey: hops from its events alone, hops from its trace, and the HTTP route,
with a fake feed in place of Redis and a fake Jaeger."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.dashboard import feed
from services.dashboard.app import create_app
from services.dashboard.journey import (
    EVENTS_NOTE,
    ReceivedEvent,
    journey_from_events,
    journey_from_trace,
    order_trace_id,
    trace_id_of,
)
from services.dashboard.journey_routes import TraceUnavailable
from shared.envelope import new_event
from tests.support.events import ORDER_ID, SAMPLE_DATA, order_placed

OTHER_ORDER_ID = "00000000-0000-4000-8000-000000000002"
START_MS = int(time.time() * 1000) - 60_000  # a minute ago: inside the dashboard's history window
# (type, source, published at, received by the dashboard at), in ms after START_MS
CHAIN = (
    ("order.placed", "orders", 0, 3),
    ("payment.authorized", "payments", 40, 42),
    ("order.confirmed", "orders", 55, 57),
    ("notification.sent", "notifications", 120, 122),
)


def at(offset_ms: float) -> datetime:
    return datetime.fromtimestamp((START_MS + offset_ms) / 1000, UTC)


def confirmed_order() -> list[ReceivedEvent]:
    """A tok_visa order's events, each caused by the one before (one trace), as received."""
    received: list[ReceivedEvent] = []
    for event_type, source, published, got in CHAIN:
        data = order_placed().data if event_type == "order.placed" else SAMPLE_DATA[event_type]
        cause = received[-1].event if received else None
        event = new_event(event_type, data, source=source, caused_by=cause).model_copy(
            update={"time": at(published)}
        )
        received.append(ReceivedEvent(event, START_MS + got))
    return received


def span(
    span_id: str, name: str, process: str, start_ms: float, duration_ms: float, *refs: str, **tags: Any
) -> dict[str, Any]:
    """A span as Jaeger's `/api/traces/<id>` writes it: microseconds, tags as key/value pairs."""
    return {
        "spanID": span_id,
        "operationName": name,
        "processID": process,
        "startTime": int((START_MS + start_ms) * 1000),
        "duration": int(duration_ms * 1000),
        "references": [{"refType": "CHILD_OF", "spanID": ref} for ref in refs],
        "tags": [{"key": key.replace("__", "."), "value": value} for key, value in tags.items()],
    }


ROUTING_KEY = "messaging__rabbitmq__destination__routing_key"


def recorded_trace() -> dict[str, Any]:
    """The payment's part of the order's trace, as Jaeger answers it."""
    return {
        "processes": {"p1": {"serviceName": "orders"}, "p2": {"serviceName": "payments"}},
        "spans": [
            span("http", "POST /api/orders", "p1", -6, 4, span__kind="server", http__request__method="POST"),
            span(
                "pub",
                "order.placed publish",
                "p1",
                0,
                1,
                span__kind="producer",
                **{ROUTING_KEY: "order.placed"},
            ),
            span("eat", "order.placed process", "p2", 4, 2, "pub", span__kind="consumer"),
            span("enq1", "apply_async/payments.authorize", "p2", 5, 1, "eat", celery__action="apply_async"),
            span("run1", "run/payments.authorize", "p2", 9, 10, "enq1", celery__action="run"),
            span("enq2", "apply_async/payments.authorize", "p2", 18, 1, "run1", celery__action="apply_async"),
            span("run2", "run/payments.authorize", "p2", 24, 12, "enq2", celery__action="run"),
            span("gw", "POST", "p2", 25, 8, "run2", span__kind="client", http__request__method="POST"),
            span("redis", "HSET", "p2", 34, 1, "run2", span__kind="client", db__system="redis"),
        ],
    }


TRACE = recorded_trace()


@pytest.fixture(autouse=True)
def a_minute_ago(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's history window counts back from now: every test's order is a minute old
    when the test runs, however long ago this module was imported (a whole suite's run)."""
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "START_MS", int(time.time() * 1000) - 60_000)
    monkeypatch.setattr(module, "TRACE", recorded_trace())


# ---- the computation -----------------------------------------------------------------


def test_a_traceparent_gives_its_trace_id_and_junk_none() -> None:
    assert trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") == (
        "4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert trace_id_of("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert trace_id_of("00-not-hex-at-all") is None


def test_the_order_trace_is_the_one_its_events_carry() -> None:
    received = confirmed_order()

    assert order_trace_id(received) == trace_id_of(received[0].event.traceparent)
    assert {trace_id_of(item.event.traceparent) for item in received} == {order_trace_id(received)}


def test_from_events_each_hop_waits_until_received_then_runs_until_the_next_event() -> None:
    journey = journey_from_events(ORDER_ID, confirmed_order(), "a" * 32)

    assert journey.origin == "events" and journey.note == EVENTS_NOTE
    assert journey.origin_epoch_ms == START_MS
    assert [(h.name, h.start_ms, h.queued_ms, h.processing_ms) for h in journey.hops] == [
        ("order.placed → payments", 0, 3, 37),
        ("payment.authorized → orders", 40, 2, 13),
        ("order.confirmed → notifications", 55, 2, 63),
        ("notification.sent", 120, 2, None),
    ]
    assert journey.total_ms == 122
    placed = journey.events[0]
    assert (placed.type, placed.published_ms, placed.received_ms) == ("order.placed", 0, 3)


def test_from_events_a_dashboard_slower_than_the_next_step_makes_no_negative_time() -> None:
    placed, authorized, *_ = confirmed_order()
    late = ReceivedEvent(placed.event, START_MS + 90)  # the dashboard got it after payment.authorized

    first = journey_from_events(ORDER_ID, [late, authorized], None).hops[0]

    assert (first.queued_ms, first.processing_ms) == (90, 0)


def test_from_the_trace_a_consumer_waits_from_the_end_of_its_publish() -> None:
    received = confirmed_order()

    journey = journey_from_trace(ORDER_ID, received, "a" * 32, TRACE)

    assert journey.origin == "trace" and journey.origin_epoch_ms == START_MS - 6
    hops = [(h.kind, h.name, h.service, h.start_ms, h.queued_ms, h.processing_ms) for h in journey.hops]
    assert hops == [
        ("request", "POST /api/orders", "orders", 0, None, 4),
        ("publish", "order.placed publish", "orders", 6, None, 1),
        ("consume", "order.placed process", "payments", 7, 3, 2),
        ("publish", "apply_async/payments.authorize", "payments", 11, None, 1),
        ("task", "run/payments.authorize", "payments", 12, 3, 10),
        ("publish", "apply_async/payments.authorize", "payments", 24, None, 1),
        ("task", "run/payments.authorize · attempt 2", "payments", 25, 5, 12),
        ("gateway", "POST", "payments", 31, None, 8),
    ]  # the Redis call inside the task is no hop
    assert journey.hops[1].event_types == ["order.placed"]
    assert [e.type for e in journey.events] == [t for t, *_ in CHAIN]


def test_a_trace_with_broken_spans_keeps_the_readable_ones() -> None:
    broken = {"processes": [], "spans": [{"spanID": "x"}, "junk", TRACE["spans"][1]]}

    journey = journey_from_trace(ORDER_ID, [], "a" * 32, broken)

    assert [(h.kind, h.service) for h in journey.hops] == [("publish", "?")]


# ---- the route -------------------------------------------------------------------------


class FakeFeed:
    """The dashboard's feed stream as feed.append writes it, ids at the test's clock."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, str]]] = []
        self.now_ms = 0

    def xadd(self, key: str, fields: dict[str, str], **_cap: Any) -> None:
        self.entries.append((f"{self.now_ms}-{len(self.entries)}", fields))

    def xrevrange(self, key: str, min: int, count: int) -> list[tuple[str, dict[str, str]]]:
        kept = [(entry_id, f) for entry_id, f in self.entries if int(entry_id.split("-")[0]) >= min]
        return list(reversed(kept))[:count]


class FakeJaeger:
    def __init__(self, traces: dict[str, dict[str, Any]]) -> None:
        self.traces = traces

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        return self.traces.get(trace_id)


class DownJaeger:
    def trace(self, trace_id: str) -> dict[str, Any] | None:
        raise TraceUnavailable("Jaeger does not answer at http://jaeger:16686")


def fed(events: list[ReceivedEvent]) -> FakeFeed:
    stream = FakeFeed()
    for item in events:
        stream.now_ms = item.received_ms
        feed.append(stream, "dashboard:feed", item.event)
    other = new_event(
        "order.placed", {**order_placed().data.model_dump(), "order_id": OTHER_ORDER_ID}, source="orders"
    )
    feed.append(stream, "dashboard:feed", other)
    return stream


@pytest.fixture
def events() -> list[ReceivedEvent]:
    return confirmed_order()


def client_with(events: list[ReceivedEvent], traces: object | None) -> FlaskClient:
    app = create_app({"JAEGER_UI_URL": "http://localhost:16686"})
    app.extensions["redis"] = fed(events)
    app.extensions["traces"] = traces
    return app.test_client()


def test_without_jaeger_the_journey_comes_from_the_feed_masked(events: list[ReceivedEvent]) -> None:
    answer = client_with(events, None).get(f"/api/orders/{ORDER_ID}/journey")

    body = answer.get_json()
    assert answer.status_code == 200
    assert body["origin"] == "events" and body["jaeger_url"] is None and body["trace_problem"] is None
    assert body["trace_id"] == order_trace_id(events)
    assert [hop["event_types"] for hop in body["hops"]] == [[t] for t, *_ in CHAIN]
    assert "ada@example.com" not in answer.text and "tok_visa" not in answer.text
    assert "a***@example.com" in answer.text  # the notification's summary, as the feed keeps it


def test_with_jaeger_the_journey_is_its_trace_and_links_to_it(events: list[ReceivedEvent]) -> None:
    trace_id = order_trace_id(events)

    body = (
        client_with(events, FakeJaeger({trace_id: TRACE})).get(f"/api/orders/{ORDER_ID}/journey").get_json()
    )

    assert body["origin"] == "trace" and len(body["hops"]) == 8
    assert body["jaeger_url"] == f"http://localhost:16686/trace/{trace_id}"


def test_a_trace_id_asked_for_is_the_one_read(events: list[ReceivedEvent]) -> None:
    chosen = "b" * 32

    body = (
        client_with(events, FakeJaeger({chosen: TRACE}))
        .get(f"/api/orders/{ORDER_ID}/journey?trace_id={chosen}")
        .get_json()
    )

    assert (body["origin"], body["trace_id"]) == ("trace", chosen)


def test_when_jaeger_has_not_got_the_trace_or_is_down_the_events_stand_in(
    events: list[ReceivedEvent],
) -> None:
    not_yet = client_with(events, FakeJaeger({})).get(f"/api/orders/{ORDER_ID}/journey").get_json()
    down = client_with(events, DownJaeger()).get(f"/api/orders/{ORDER_ID}/journey").get_json()

    assert not_yet["origin"] == "events" and "no trace" in not_yet["trace_problem"]
    assert not_yet["jaeger_url"].endswith(not_yet["trace_id"])  # Jaeger runs: its page will show it
    assert down["origin"] == "events" and "does not answer" in down["trace_problem"]
    assert down["jaeger_url"] is None


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/orders/not-a-uuid/journey", "order_id"),
        (f"/api/orders/{ORDER_ID}/journey?trace_id=xyz", "trace_id"),
        (f"/api/orders/{ORDER_ID}/journey?trace_id={'A' * 32}", "trace_id"),
    ],
)
def test_a_malformed_order_or_trace_id_is_refused_naming_it(
    events: list[ReceivedEvent], path: str, field: str
) -> None:
    answer = client_with(events, None).get(path)

    assert answer.status_code == 400
    assert answer.get_json()["field"] == field


def test_an_order_the_dashboard_has_not_seen_is_not_found(events: list[ReceivedEvent]) -> None:
    answer = client_with(events, None).get("/api/orders/00000000-0000-4000-8000-00000000dead/journey")

    assert answer.status_code == 404
    assert answer.get_json()["detail"].startswith("order_id:")


def test_the_journey_is_in_the_openapi_document(events: list[ReceivedEvent]) -> None:
    paths = client_with(events, None).get("/openapi.json").get_json()["paths"]

    operation = paths["/api/orders/{order_id}/journey"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"order_id", "trace_id"}
    assert {"200", "400", "404"} <= set(operation["responses"])
