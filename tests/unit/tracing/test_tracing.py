"""The tracing hooks: off unless the standard variables ask, and with it on, each publish and
each handling a span continuing the context its message or outbox row carries."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import tracing
from shared.consumer import EventConsumer
from shared.logs import _ContextFilter
from shared.settings import Settings
from tests.support.events import order_placed

STORED = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SETTINGS = Settings(service="payments", amqp_url="amqp://payments:pw@unused", redis_url="redis://unused")


def ids_of(traceparent: str) -> tuple[str, str]:
    _version, trace_id, span_id, _flags = traceparent.split("-")
    return trace_id, span_id


def hex_ids(span) -> tuple[str, str]:
    return trace.format_trace_id(span.context.trace_id), trace.format_span_id(span.context.span_id)


@pytest.mark.parametrize(
    ("environ", "requested"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, False),
    ],
)
def test_only_the_standard_variables_switch_tracing_on(environ: dict[str, str], requested: bool) -> None:
    assert tracing.tracing_requested(environ) is requested


def test_without_otel_variables_nothing_is_set_up_and_the_hooks_do_nothing() -> None:
    assert tracing.start_tracing("payments", "consumer", environ={}) is False
    assert tracing.tracing_on() is False
    assert tracing.stored_traceparent(STORED) == STORED
    assert tracing.current_ids() is None
    with tracing.processing("payments", "order.placed", {"traceparent": STORED}, None) as span:
        assert span is None


def test_the_relays_publish_continues_the_context_stored_with_the_outbox_row(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.publishing("shop.events", [tracing.Outgoing("order.placed", "event-1", STORED)]) as headers:
        pass

    (span,) = spans.get_finished_spans()
    assert span.name == "publish shop.events"
    assert span.kind == trace.SpanKind.PRODUCER
    assert span.parent is not None
    assert (trace.format_trace_id(span.parent.trace_id), trace.format_span_id(span.parent.span_id)) == ids_of(
        STORED
    )
    assert ids_of(headers[0]["traceparent"]) == hex_ids(span)
    assert span.attributes == {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": "shop.events",
        "messaging.rabbitmq.destination.routing_key": "order.placed",
        "messaging.message.id": "event-1",
    }


def test_a_publish_inside_a_task_is_a_child_of_the_task(spans: InMemorySpanExporter) -> None:
    outgoing = [tracing.Outgoing("payment.authorized", "e", STORED)]
    with (
        tracing._tracer.start_as_current_span("run/charge_order") as task,
        tracing.publishing("shop.events", outgoing),
    ):
        pass

    publish = next(s for s in spans.get_finished_spans() if s.name == "publish shop.events")
    assert publish.parent.span_id == task.get_span_context().span_id


def test_a_failed_publish_ends_its_span_as_an_error(spans: InMemorySpanExporter) -> None:
    outgoing = [tracing.Outgoing("order.placed", "e", STORED)]
    with pytest.raises(TimeoutError), tracing.publishing("shop.events", outgoing):
        raise TimeoutError("no confirm")

    (span,) = spans.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR


def test_an_outbox_row_stores_the_span_that_wrote_it(spans: InMemorySpanExporter) -> None:
    with tracing._tracer.start_as_current_span("POST /api/orders") as post:
        stored = tracing.stored_traceparent(STORED)

    assert ids_of(stored) == hex_ids(post)


def test_handling_continues_the_context_in_the_amqp_headers(spans: InMemorySpanExporter) -> None:
    seen: list[tuple[str, str] | None] = []
    event = order_placed()
    consumer = EventConsumer(
        "payments", {"order.placed": lambda _e: seen.append(tracing.current_ids())}, SETTINGS
    )

    outcome = consumer.outcome_of(event.to_json(), {"traceparent": STORED}, "order.placed", "orders")

    assert outcome.action == "ack"
    (span,) = spans.get_finished_spans()
    assert (span.name, span.kind) == ("process payments", trace.SpanKind.CONSUMER)
    assert format(span.parent.span_id, "016x") == ids_of(STORED)[1]
    assert seen == [hex_ids(span)]
    assert span.attributes["messaging.operation.type"] == "process"
    assert span.attributes["messaging.message.id"] == event.id


def test_without_trace_headers_handling_continues_the_envelopes_traceparent(
    spans: InMemorySpanExporter,
) -> None:
    event = order_placed()
    consumer = EventConsumer("payments", {"order.placed": lambda _e: None}, SETTINGS)

    consumer.outcome_of(event.to_json(), {}, "order.placed", "orders")

    (span,) = spans.get_finished_spans()
    assert format(span.parent.span_id, "016x") == ids_of(event.traceparent)[1]


def test_a_message_dead_lettered_marks_its_span_as_an_error(spans: InMemorySpanExporter) -> None:
    consumer = EventConsumer("payments", {"order.placed": lambda _e: None}, SETTINGS)

    outcome = consumer.outcome_of(b"not an event", {"traceparent": STORED}, "order.placed", "orders")

    assert outcome.reason == "invalid"
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR
    assert format(span.parent.trace_id, "032x") == ids_of(STORED)[0]


def test_log_lines_carry_the_ids_of_the_span_in_progress(spans: InMemorySpanExporter) -> None:
    record = logging.LogRecord("shop", logging.INFO, __file__, 1, "charged", None, None)
    with tracing._tracer.start_as_current_span("run/charge_order") as task:
        _ContextFilter("payments", "worker").filter(record)

    assert (record.trace_id, record.span_id) == hex_ids(task)


def test_without_tracing_log_lines_have_no_trace_ids() -> None:
    record = logging.LogRecord("shop", logging.INFO, __file__, 1, "charged", None, None)
    _ContextFilter("payments", "worker").filter(record)

    assert not hasattr(record, "trace_id")
