"""The journey view in a real browser (Debian's Chromium via Playwright) against the real stack.

A tok_visa order placed from the page, opened from its card: with no Jaeger running, every hop
from order.placed to notification.sent is drawn from its events with its durations (saved as
artifacts/screenshots/journey.png). Then with a Jaeger answering (a small fake the test runs
on the port the dashboard was told about), the same view draws the order's spans and links
to the trace in Jaeger's UI (journey-trace.png).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.waiting import wait_until
from tests.support.browser import card, chromium, chromium_available, place_from_ui, screenshot, unique_email
from tests.support.bus import queues_declared

SERVICES = ("orders", "payments", "notifications", "dashboard")
SUBSCRIBER_QUEUES = SERVICES
ORDER_EVENTS = ("order.placed", "payment.authorized", "order.confirmed", "notification.sent")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason="needs Debian's chromium: apt-get install chromium"),
]

TALL_LAPTOP = {"width": 1440, "height": 1200}  # the whole dialog, journey included, in one screenshot


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


JAEGER_PORT = free_port()  # nothing listens there until a test runs its fake Jaeger
JAEGER_URL = f"http://127.0.0.1:{JAEGER_PORT}"


@pytest.fixture(scope="module")
def stack() -> Iterator[SandboxedStack]:
    with sandboxed_stack("journey", JAEGER_QUERY_URL=JAEGER_URL) as running:
        running.up("smtp-sink", *SERVICES)
        declared = lambda: queues_declared(running.sandbox.amqp_url, SUBSCRIBER_QUEUES)  # noqa: E731
        wait_until(declared, 60, 0.2, "the subscriber queues")
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Browser, stack: SandboxedStack) -> Iterator[Page]:
    context = browser.new_context(viewport=TALL_LAPTOP, color_scheme="dark")
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.goto(stack.url("dashboard"))
    expect(tab.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(tab.locator("#catalog .product").first).to_be_visible(timeout=20_000)
    yield tab
    assert not errors, f"JavaScript errors: {errors}"
    context.close()


def confirmed_and_notified(page: Page) -> str:
    """A tok_visa order placed from the page, once the dashboard has seen all its events."""
    order_id = place_from_ui(page, unique_email("journey"), "tok_visa")
    expect(card(page, order_id, "CONFIRMED")).to_be_visible(timeout=30_000)
    notified = page.locator(f'#events-body tr[data-order="{order_id}"][data-type="notification.sent"]')
    expect(notified).to_have_count(1, timeout=30_000)
    return order_id


def open_journey(page: Page, order_id: str) -> None:
    card(page, order_id, "CONFIRMED").locator("button").click()
    expect(page.locator("#timeline")).to_be_visible()
    page.click("#journey-open")
    expect(page.locator('#journey [data-testid="journey-origin"]')).to_be_visible(timeout=10_000)


def test_the_journey_of_a_confirmed_order_shows_every_hop_from_its_events(page: Page) -> None:
    order_id = confirmed_and_notified(page)

    open_journey(page, order_id)

    journey = page.locator("#journey")
    expect(journey.locator('[data-testid="journey-origin"]')).to_have_attribute("data-origin", "events")
    hops = journey.locator('[data-testid="journey-hop"]')
    expect(hops).to_have_count(len(ORDER_EVENTS))
    for event_type in ORDER_EVENTS:
        hop = journey.locator(f'[data-testid="journey-hop"][data-type="{event_type}"]')
        expect(hop).to_contain_text(event_type)
        expect(hop.locator('[data-testid="hop-durations"]')).to_contain_text(" ms")
        expect(hop.locator(".hop-queued")).to_be_visible()
    expect(journey).to_contain_text("does not answer")  # no Jaeger here: the events stand in
    expect(journey.locator('[data-testid="jaeger-link"]')).to_have_count(0)
    screenshot(page, "journey", full_page=False)


class FakeJaeger(BaseHTTPRequestHandler):
    """`GET /api/traces/<id>` as Jaeger's query API answers it, from `traces`."""

    traces: dict[str, dict[str, Any]] = {}

    def do_GET(self) -> None:
        trace = self.traces.get(self.path.removeprefix("/api/traces/"))
        body = json.dumps({"data": [trace] if trace else [], "errors": None}).encode()
        self.send_response(200 if trace else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet: the test's output is its assertions."""


@pytest.fixture
def jaeger() -> Iterator[dict[str, dict[str, Any]]]:
    """A Jaeger answering on JAEGER_PORT with the traces put in the dict it yields."""
    FakeJaeger.traces = {}
    server = ThreadingHTTPServer(("127.0.0.1", JAEGER_PORT), FakeJaeger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield FakeJaeger.traces
    server.shutdown()
    server.server_close()


def order_trace(origin_ms: int) -> dict[str, Any]:
    """An order's spans as the services send them, in Jaeger's JSON: each consumer and task
    continues the publish before it, after a wait in its queue."""
    spans: list[dict[str, Any]] = []

    def add(process: str, name: str, start_ms: float, took_ms: float, parent: str | None, **tags: str) -> str:
        span_id = f"{len(spans) + 1:016x}"
        spans.append(
            {
                "spanID": span_id,
                "operationName": name,
                "processID": process,
                "startTime": int((origin_ms + start_ms) * 1000),
                "duration": int(took_ms * 1000),
                "references": [{"refType": "CHILD_OF", "spanID": parent}] if parent else [],
                "tags": [{"key": key, "type": "string", "value": value} for key, value in tags.items()],
            }
        )
        return span_id

    producer, consumer = {"span.kind": "producer"}, {"span.kind": "consumer"}
    post = add(
        "orders", "POST /api/orders", -8, 6, None, **{"span.kind": "server", "http.request.method": "POST"}
    )
    placed = add("orders", "order.placed publish", 0, 1, post, **producer)
    taken = add("payments", "order.placed process", 3, 2, placed, **consumer)
    queued = add(
        "payments", "apply_async/payments.authorize", 4, 1, taken, **{"celery.action": "apply_async"}
    )
    run = add("payments", "run/payments.authorize", 8, 12, queued, **{"celery.action": "run"})
    add("payments", "POST", 9, 8, run, **{"span.kind": "client", "http.request.method": "POST"})
    authorized = add("payments", "payment.authorized publish", 18, 1, run, **producer)
    taken = add("orders", "payment.authorized process", 22, 3, authorized, **consumer)
    confirmed = add("orders", "order.confirmed publish", 26, 1, taken, **producer)
    taken = add("notifications", "order.confirmed process", 30, 2, confirmed, **consumer)
    queued = add(
        "notifications", "apply_async/notifications.send", 31, 1, taken, **{"celery.action": "apply_async"}
    )
    run = add("notifications", "run/notifications.send", 35, 20, queued, **{"celery.action": "run"})
    add("notifications", "smtp send", 36, 15, run, **{"span.kind": "client"})
    add("notifications", "notification.sent publish", 52, 1, run, **producer)
    processes = {name: {"serviceName": name, "tags": []} for name in ("orders", "payments", "notifications")}
    return {"spans": spans, "processes": processes}


def test_with_jaeger_the_journey_shows_the_order_spans_and_links_to_its_trace(
    page: Page, stack: SandboxedStack, jaeger: dict[str, dict[str, Any]]
) -> None:
    order_id = confirmed_and_notified(page)
    answer = requests.get(f"{stack.url('dashboard')}/api/orders/{order_id}/journey", timeout=10).json()
    trace_id = answer["trace_id"]
    jaeger[trace_id] = order_trace(answer["origin_epoch_ms"])

    open_journey(page, order_id)

    journey = page.locator("#journey")
    expect(journey.locator('[data-testid="journey-origin"]')).to_have_attribute("data-origin", "trace")
    expect(journey.locator('[data-testid="jaeger-link"]')).to_have_attribute(
        "href", f"{JAEGER_URL}/trace/{trace_id}"
    )
    for kind in ("request", "publish", "consume", "task", "gateway", "smtp"):
        expect(journey.locator(f'[data-testid="journey-hop"][data-kind="{kind}"]').first).to_be_visible()
    task = journey.locator('[data-testid="journey-hop"][data-kind="task"]').first
    expect(task.locator('[data-testid="hop-durations"]')).to_have_text("queued 3 ms · processed 12 ms")
    screenshot(page, "journey-trace", full_page=False)
