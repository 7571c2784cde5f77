"""OpenTelemetry tracing, switched on only by the standard `OTEL_*` variables.

Every process calls `start_tracing(service, process_type)` once at start. Tracing is on when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set or `OTEL_TRACES_EXPORTER=otlp`, unless
`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`; spans go over OTLP/HTTP protobuf (the
exporter reads the other `OTEL_EXPORTER_OTLP_*` variables itself). Off, nothing of the SDK is
imported and nothing is instrumented: each hook below costs a boolean test (about a
microsecond per message handled, measured).

The trace of an order crosses processes three ways, each carrying a W3C `traceparent`:
the outbox row (the event stored by the API or the orders consumer carries the context of the
span that stored it: `stored_traceparent`), the AMQP headers with the CloudEvents `traceparent`
(set to the PRODUCER span of each publish: `publishing`), and Celery's task headers (the Celery
instrumentation). A consumer continues the context it finds in the message (`processing`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context, propagate, trace

if TYPE_CHECKING:
    from shared.envelope import Event

_tracing_on = False
# resolves to the provider `start_tracing` installs (a test swaps in its own)
_tracer = trace.get_tracer("shop")
_TRACE_HEADERS = ("traceparent", "tracestate")


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """What the standard variables ask for: an OTLP endpoint or exporter, and the SDK not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter == "otlp"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def tracing_on() -> bool:
    return _tracing_on


def start_tracing(service: str, process_type: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Set up the SDK and the instrumentations once per process, if the environment asks for it."""
    global _tracing_on
    if _tracing_on or not tracing_requested(environ):
        return _tracing_on
    # imported only here: a process with tracing off never loads the SDK
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: service, "process.type": process_type})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)  # ends with the process: its spans flushed at exit
    RedisInstrumentor().instrument()
    RequestsInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    _tracing_on = True
    return True


def trace_flask_app(app: Any) -> None:
    """A SERVER span per request (continuing a `traceparent` the client sent)."""
    if _tracing_on:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor.instrument_app(app)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the span in progress, as hex, for log lines; None when there is none."""
    if not _tracing_on:
        return None
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id)


def stored_traceparent(traceparent: str) -> str:
    """The traceparent to store with an outbox row: the span storing it, which the relay's
    publish continues later in another process (or `traceparent` as it was, tracing off)."""
    if not _tracing_on:
        return traceparent
    span = trace.get_current_span()
    return _headers_of(span)["traceparent"] if span.get_span_context().is_valid else traceparent


@dataclass(frozen=True)
class Outgoing:
    """What a publish span needs of one message."""

    routing_key: str
    message_id: str
    traceparent: str  # the event's: where the relay finds the context the outbox row kept


@contextlib.contextmanager
def publishing(exchange: str, messages: list[Outgoing]) -> Iterator[list[dict[str, str]]]:
    """A PRODUCER span per message, open until the broker confirmed them all; each is a child of
    the span in progress or, where none is (the relay), of the message's stored `traceparent`.
    Yields each message's headers carrying its span (its envelope's new `traceparent` too).
    Only with tracing on (`tracing_on`): the caller skips the whole thing otherwise."""
    in_span = trace.get_current_span().get_span_context().is_valid
    spans = [
        _tracer.start_span(
            f"publish {exchange}",
            context=None if in_span else propagate.extract({"traceparent": message.traceparent}),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "send",
                "messaging.operation.name": "publish",
                "messaging.destination.name": exchange,
                "messaging.rabbitmq.destination.routing_key": message.routing_key,
                "messaging.message.id": message.message_id,
            },
        )
        for message in messages
    ]
    try:
        yield [_headers_of(span) for span in spans]
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(trace.StatusCode.ERROR, str(exc))
        raise
    finally:
        for span in spans:
            span.end()


def _headers_of(span: trace.Span) -> dict[str, str]:
    headers: dict[str, str] = {}
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return headers


@contextlib.contextmanager
def processing(
    queue: str, routing_key: str, headers: Mapping[str, Any], event: Event | None
) -> Iterator[trace.Span | None]:
    """A CONSUMER span for handling one message, child of the context the message carries: its
    AMQP headers, else the CloudEvents `traceparent` of its envelope (`event`, None when the
    body is no event). Yields the span, or None with tracing off."""
    if not _tracing_on:
        yield None
        return
    carrier = {
        name: _text(headers[name]) for name in _TRACE_HEADERS if isinstance(headers.get(name), str | bytes)
    }
    if "traceparent" not in carrier and event is not None:
        carrier = {"traceparent": event.traceparent}
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": queue,
        "messaging.rabbitmq.destination.routing_key": routing_key,
    }
    if event is not None:
        attributes["messaging.message.id"] = event.id
    with _tracer.start_as_current_span(
        f"process {queue}",
        context=propagate.extract(carrier, context=context.Context()),
        kind=trace.SpanKind.CONSUMER,
        attributes=attributes,
    ) as span:
        yield span


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


@contextlib.contextmanager
def client_call(name: str, **attributes: str | int) -> Iterator[None]:
    """A CLIENT span around a call to something outside (the card gateway, SMTP)."""
    if not _tracing_on:
        yield
        return
    with _tracer.start_as_current_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes):
        yield
