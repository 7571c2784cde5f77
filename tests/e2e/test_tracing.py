"""One trace per order, from `POST /api/orders` to `notification.sent`, as real processes export it.

The test is the OTLP/HTTP receiver the stack's processes send their spans to (protobuf
`ExportTraceServiceRequest` on `/v1/traces`). Each order's trace id is read from its
`order.placed` event as published; the spans of that trace must form one tree rooted at the
POST, with a span for every hop in between, and a dead letter replayed stays in its trace.
"""

from __future__ import annotations

import collections
import gzip
import http.server
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.waiting import wait_until
from services.dashboard.dead_letters import DeadLetterQueues
from shared.envelope import Event
from tests.support.bus import BusObserver

SERVICES = ("orders", "payments", "notifications")
CHARGE_TASK = "services.payments.tasks.charge_order"
SEND_TASK = "services.notifications.tasks.send_notification"
SPANS_TIMEOUT_S = 60
pytestmark = pytest.mark.slow


@dataclass(frozen=True, eq=False)  # compared and hashed as the one object a trace holds
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str  # SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL
    service: str
    process_type: str
    attributes: dict[str, Any]


class SpanCollector:
    """An OTLP/HTTP trace receiver on a free local port, keeping every span it is sent."""

    def __init__(self) -> None:
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        collector = self

        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector._keep(ExportTraceServiceRequest.FromString(body))
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def _keep(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        Span(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=ProtoSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                            service=resource.get("service.name", ""),
                            process_type=resource.get("process.type", ""),
                            attributes=_attributes(span.attributes),
                        )
                    )
        with self._lock:
            self._spans.extend(received)

    def of_trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [span for span in self._spans if span.trace_id == trace_id]

    def with_attribute(self, name: str, value: str) -> list[Span]:
        with self._lock:
            return [span for span in self._spans if span.attributes.get(name) == value]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: getattr(pair.value, pair.value.WhichOneof("value") or "string_value") for pair in pairs}


class Trace:
    """The spans of one trace, navigable by parentage."""

    def __init__(self, spans: list[Span]) -> None:
        self.spans = spans
        self.by_id = {span.span_id: span for span in spans}
        self.children: dict[str, list[Span]] = collections.defaultdict(list)
        for span in spans:
            self.children[span.parent_id].append(span)

    def roots(self) -> list[Span]:
        return [span for span in self.spans if span.parent_id not in self.by_id]

    def parent(self, span: Span) -> Span:
        return self.by_id[span.parent_id]

    def ancestors(self, span: Span) -> list[Span]:
        chain = []
        while span.parent_id in self.by_id:
            span = self.by_id[span.parent_id]
            chain.append(span)
        return chain

    def publish_of(self, event: Event) -> Span:
        (span,) = [
            s
            for s in self.spans
            if s.kind == "PRODUCER" and s.attributes.get("messaging.message.id") == event.id
        ]
        return span

    def processing_of(self, event: Event, queue: str) -> list[Span]:
        return [
            s
            for s in self.spans
            if s.kind == "CONSUMER"
            and s.name == f"process {queue}"
            and s.attributes.get("messaging.message.id") == event.id
        ]

    def named(self, name: str, under: Span) -> list[Span]:
        return [s for s in self.spans if s.name == name and under in self.ancestors(s)]


@pytest.fixture(scope="module")
def collector() -> Iterator[SpanCollector]:
    collector = SpanCollector()
    yield collector
    collector.close()


@pytest.fixture(scope="module")
def shop(collector: SpanCollector) -> Iterator[SandboxedStack]:
    """The whole order flow, every process exporting its spans to the test's receiver."""
    with sandboxed_stack(
        "tracing", OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, OTEL_BSP_SCHEDULE_DELAY="100"
    ) as stack:
        stack.up("smtp-sink", *SERVICES)
        yield stack


@pytest.fixture
def observer(shop: SandboxedStack) -> Iterator[BusObserver]:
    observer = BusObserver(shop.sandbox.amqp_url)
    yield observer
    observer.close()


def place(shop: SandboxedStack, token: str) -> str:
    catalog = requests.get(shop.url("orders") + "/api/catalog", timeout=5).json()
    products = catalog["products"] if isinstance(catalog, dict) else catalog
    response = requests.post(
        shop.url("orders") + "/api/orders",
        json={
            "customer_email": "ada@example.com",
            "items": [{"sku": products[0]["sku"], "qty": 1}],
            "payment_token": token,
        },
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def journey(observer: BusObserver, order_id: str) -> dict[str, Event]:
    """The order's events by type, once it reached `notification.sent`."""

    def sent() -> dict[str, Event] | None:
        observer.drain()
        events = {event.type: event for event in observer.of_order(order_id)}
        return events if "notification.sent" in events else None

    return wait_until(sent, SPANS_TIMEOUT_S, 0.2, f"notification.sent of order {order_id}")


def trace_id_of(events: dict[str, Event]) -> str:
    return events["order.placed"].traceparent.split("-")[1]


def trace_of(collector: SpanCollector, events: dict[str, Event], charge_attempts: int) -> Trace:
    """The order's trace once every process exported its part: each publish, the three
    consumers' handling, each charge attempt with its gateway call, the email with its SMTP send."""
    trace_id = trace_id_of(events)
    expected = collections.Counter(
        {
            "POST /api/orders": 1,
            "publish shop.events": len(events),
            "process payments": 1,
            "process orders": 1,
            "process notifications": 1,
            f"run/{CHARGE_TASK}": charge_attempts,
            "gateway charge": charge_attempts,
            f"run/{SEND_TASK}": 1,
            "smtp send": 1,
        }
    )

    def complete() -> Trace | None:
        spans = collector.of_trace(trace_id)
        arrived = collections.Counter(span.name for span in spans)
        return Trace(spans) if all(arrived[name] >= count for name, count in expected.items()) else None

    return wait_until(complete, SPANS_TIMEOUT_S, 0.2, f"the spans of trace {trace_id}")


def assert_one_tree_rooted_at_the_post(trace: Trace) -> Span:
    (root,) = trace.roots()
    assert (root.kind, root.service, root.name) == ("SERVER", "orders", "POST /api/orders")
    assert root.parent_id == ""
    return root


def assert_every_hop(
    trace: Trace, events: dict[str, Event], payment: str, outcome: str, attempts: int
) -> None:
    """POST → relay publish → payments consumer → charge task (each attempt) → gateway →
    payment.* publish → orders consumer → order.* publish → notifications consumer → email task
    → SMTP → notification.sent publish; each publish span is the envelope's `traceparent`."""
    root = assert_one_tree_rooted_at_the_post(trace)
    assert trace.named("EVALSHA", under=root), "the outbox write is a span of the POST"

    placed = trace.publish_of(events["order.placed"])
    assert (placed.service, placed.process_type, placed.name) == ("orders", "relay", "publish shop.events")
    assert trace.parent(placed) == root
    assert placed.attributes["messaging.system"] == "rabbitmq"
    assert placed.attributes["messaging.operation.type"] == "send"
    assert placed.attributes["messaging.rabbitmq.destination.routing_key"] == "order.placed"

    (requested,) = trace.processing_of(events["order.placed"], "payments")
    assert (requested.service, requested.process_type) == ("payments", "consumer")
    assert trace.parent(requested) == placed
    assert requested.attributes["messaging.operation.type"] == "process"

    runs = trace.named(f"run/{CHARGE_TASK}", under=requested)
    assert len(runs) == attempts, [s.name for s in trace.spans]
    assert {(s.service, s.process_type, s.kind) for s in runs} == {("payments", "worker", "CONSUMER")}
    by_depth = sorted(runs, key=lambda run: len(trace.ancestors(run)))
    for tried_before, run in enumerate(by_depth):  # each retry is sent by the attempt before it
        assert sum(earlier in trace.ancestors(run) for earlier in runs) == tried_before
    gateway_calls = [s for s in trace.spans if s.name == "gateway charge"]
    assert len(gateway_calls) == attempts
    assert all(trace.parent(call) in runs or set(trace.ancestors(call)) & set(runs) for call in gateway_calls)
    assert all(call.kind == "CLIENT" for call in gateway_calls)

    paid = trace.publish_of(events[payment])
    assert (paid.service, paid.process_type) == ("payments", "worker")
    assert set(trace.ancestors(paid)) & set(runs)

    (settled,) = trace.processing_of(events[payment], "orders")
    assert trace.parent(settled) == paid

    ended = trace.publish_of(events[outcome])
    assert (ended.service, ended.process_type) == ("orders", "relay")
    assert trace.parent(ended) == settled

    (notified,) = trace.processing_of(events[outcome], "notifications")
    assert trace.parent(notified) == ended
    (email_task,) = trace.named(f"run/{SEND_TASK}", under=notified)
    assert (email_task.service, email_task.process_type) == ("notifications", "worker")
    (smtp,) = trace.named("smtp send", under=email_task)
    assert smtp.kind == "CLIENT"
    sent = trace.publish_of(events["notification.sent"])
    assert email_task in trace.ancestors(sent)

    for event in events.values():  # the envelope names the real publish span
        assert event.traceparent.split("-")[2] == trace.publish_of(event).span_id


@pytest.mark.parametrize(
    ("token", "payment", "outcome", "attempts"),
    [
        ("tok_visa", "payment.authorized", "order.confirmed", 1),
        ("tok_flaky", "payment.authorized", "order.confirmed", 3),
        ("tok_chargeDeclined", "payment.declined", "order.cancelled", 1),
    ],
)
def test_each_order_is_one_trace_with_a_span_for_every_hop(
    shop: SandboxedStack,
    collector: SpanCollector,
    observer: BusObserver,
    token: str,
    payment: str,
    outcome: str,
    attempts: int,
) -> None:
    order_id = place(shop, token)
    events = journey(observer, order_id)
    assert len({event.traceparent.split("-")[1] for event in events.values()}) == 1

    trace = trace_of(collector, events, charge_attempts=attempts)

    assert_every_hop(trace, events, payment, outcome, attempts)
    # nothing of this order landed in another trace
    of_this_order = collector.with_attribute("gateway.idempotency_key", order_id) + [
        span
        for event in events.values()
        for span in collector.with_attribute("messaging.message.id", event.id)
    ]
    assert {span.trace_id for span in of_this_order} == {trace_id_of(events)}


def test_a_dead_letter_replayed_stays_in_its_trace(
    shop: SandboxedStack, collector: SpanCollector, observer: BusObserver
) -> None:
    order_id = place(shop, "tok_visa")
    placed = journey(observer, order_id)["order.placed"]
    trace_id = placed.traceparent.split("-")[1]
    # A copy of the order's event sent by someone who may not (the administrator): payments
    # dead-letters it as forged at once; its headers carry the order's trace context.
    copy_id = str(uuid.uuid4())
    forged = placed.model_copy(update={"id": copy_id})
    connection = pika.BlockingConnection(pika.URLParameters(shop.sandbox.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "",
            "payments",
            forged.to_json(),
            pika.BasicProperties(
                message_id=copy_id,
                delivery_mode=pika.DeliveryMode.Persistent,
                headers={"traceparent": placed.traceparent},
            ),
            mandatory=True,
        )
    finally:
        connection.close()

    def handled(times: int) -> list[Span] | None:
        spans = [
            s for s in collector.of_trace(trace_id) if s.attributes.get("messaging.message.id") == copy_id
        ]
        return spans if len(spans) >= times else None

    wait_until(lambda: handled(1), SPANS_TIMEOUT_S, 0.2, "the forged copy's processing span")
    dead_letters = DeadLetterQueues(shop.sandbox.amqp_url)
    wait_until(
        lambda: dead_letters.replay("payments", copy_id) == 1, SPANS_TIMEOUT_S, 0.2, "the copy replayed"
    )

    spans = wait_until(lambda: handled(2), SPANS_TIMEOUT_S, 0.2, "the replayed copy's processing span")
    trace = Trace(collector.of_trace(trace_id))
    assert_one_tree_rooted_at_the_post(trace)
    publish_span_id = placed.traceparent.split("-")[2]
    assert all(s.parent_id == publish_span_id and s.name == "process payments" for s in spans)
    assert all(s.attributes.get("messaging.message.id") == copy_id for s in spans)
