"""One order's journey: each hop on a timeline, the time it waited in a queue apart from the
time it was processed.

With the order's trace (Jaeger's JSON, spans of every process), a hop is a span: a publish,
a consumer, a Celery task run (each retry its own hop), the gateway call, the SMTP send. A
consumer's or task's queue wait is its start minus the end of the publish span it continues.

Without a trace (no Jaeger, or it does not have the order yet), the hops are derived from
the events alone, as the dashboard received them: an event waited in the broker from its
publish time until the dashboard got its copy, and the next step took from then until the
next event was published. Approximate, and labelled so: the dashboard's copy stands in for
every subscriber's.

Pure functions over plain data: the routes fetch (journey_routes.py), these compute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from services.dashboard.view import summarize, text
from shared.envelope import Event

Origin = Literal["trace", "events"]
HopKind = Literal["request", "publish", "consume", "task", "gateway", "smtp", "step"]

EVENTS_NOTE = (
    "Derived from the events alone: queued is how long the dashboard's own copy of each event "
    "took to arrive, processed is from then until the next event was published."
)
TRACE_NOTE = "From the order's trace: queued is a consumer's start minus the end of the publish it continues."
PUBLISH_OPERATIONS = frozenset({"publish", "send", "create"})
CONSUME_OPERATIONS = frozenset({"process", "receive", "deliver"})


@dataclass(frozen=True)
class ReceivedEvent:
    """An event of the dashboard's feed and when the dashboard appended it (epoch ms)."""

    event: Event
    received_ms: int


class JourneyEvent(BaseModel):
    id: str
    type: str
    source: str
    published_ms: float  # from the journey's origin
    received_ms: float  # when the dashboard got it, from the journey's origin
    summary: str


class Hop(BaseModel):
    """One step on the timeline: from `start_ms` (an offset from the journey's origin) it waited
    `queued_ms` (None: it waited for nothing) and then was processed for `processing_ms`."""

    kind: HopKind
    name: str
    service: str
    start_ms: float
    queued_ms: float | None
    processing_ms: float | None
    event_types: list[str]


class Journey(BaseModel):
    order_id: str
    trace_id: str | None
    origin: Origin
    note: str
    origin_epoch_ms: int | None  # what every offset counts from
    total_ms: float
    events: list[JourneyEvent]
    hops: list[Hop]
    jaeger_url: str | None  # the trace in Jaeger's UI, when the dashboard knows where it is
    trace_problem: str | None  # why the hops come from the events though a Jaeger is configured


def trace_id_of(traceparent: str) -> str | None:
    """The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`); None if unreadable."""
    parts = traceparent.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1].lower()


def order_trace_id(received: Iterable[ReceivedEvent]) -> str | None:
    """The order's trace: that of its first event (every later one carries it forward)."""
    for item in sorted(received, key=lambda r: r.event.time):
        if trace_id := trace_id_of(item.event.traceparent):
            return trace_id
    return None


def journey_from_events(order_id: str, received: list[ReceivedEvent], trace_id: str | None) -> Journey:
    """Each event a hop: queued in the broker until the dashboard received it, then processed
    until the next event was published."""
    ordered = sorted(received, key=lambda r: (r.event.time, r.received_ms))
    if not ordered:
        return _journey(order_id, trace_id, "events", None, [], [])
    origin = _ms(ordered[0].event.time)
    events = _events(ordered, origin)
    hops = []
    for event, following in zip(events, [*events[1:], None], strict=True):
        received_at = max(event.received_ms, event.published_ms)
        hops.append(
            Hop(
                kind="step",
                name=event.type + (f" → {following.source}" if following else ""),
                service=event.source,
                start_ms=event.published_ms,
                queued_ms=round(received_at - event.published_ms, 3),
                processing_ms=round(max(0, following.published_ms - received_at), 3) if following else None,
                event_types=[event.type],
            )
        )
    return _journey(order_id, trace_id, "events", origin, events, hops)


def journey_from_trace(
    order_id: str, received: list[ReceivedEvent], trace_id: str, trace: dict[str, Any]
) -> Journey:
    """The hops of a Jaeger trace (`/api/traces/<id>`'s `data[0]`): the spans that are a hop,
    by start; the spans of libraries inside a hop (Redis calls) are left out."""
    spans = _spans(trace)
    by_id = {span.span_id: span for span in spans}
    event_types = sorted({item.event.type for item in received}, key=len, reverse=True)
    starts = [span.start_us / 1000 for span in spans] + [_ms(item.event.time) for item in received]
    origin = min(starts) if starts else 0
    attempts: Counter[str] = Counter()
    hops = []
    for span in sorted(spans, key=lambda s: s.start_us):
        kind = hop_kind(span)
        if kind is None:
            continue
        name = span.name
        if kind == "task":
            attempts[span.name] += 1
            name += f" · attempt {attempts[span.name]}" if attempts[span.name] > 1 else ""
        queued = queue_wait_ms(span, by_id) if kind in ("consume", "task") else None
        hops.append(
            Hop(
                kind=kind,
                name=name,
                service=span.service,
                start_ms=round(span.start_us / 1000 - origin - (queued or 0), 3),
                queued_ms=queued,
                processing_ms=round(span.duration_us / 1000, 3),
                event_types=[t for t in event_types if t in span.name or t in span.routing_key][:1],
            )
        )
    ordered = sorted(received, key=lambda r: r.event.time)
    return _journey(order_id, trace_id, "trace", origin, _events(ordered, origin), hops)


@dataclass(frozen=True)
class Span:
    """What a hop needs of a Jaeger span; times in microseconds since the epoch."""

    span_id: str
    name: str
    service: str
    start_us: int
    duration_us: int
    references: tuple[str, ...]  # parent and links
    tags: dict[str, Any]

    @property
    def routing_key(self) -> str:
        key = self.tags.get("messaging.rabbitmq.destination.routing_key") or self.tags.get(
            "messaging.destination.name"
        )
        return key if isinstance(key, str) else ""


def hop_kind(span: Span) -> HopKind | None:
    """Which kind of hop a span is, by the semantic conventions' tags; None for the spans inside one."""
    tags, name = span.tags, span.name.lower()
    operation = tags.get("messaging.operation.type") or tags.get("messaging.operation")
    celery = tags.get("celery.action")
    if "smtp" in name or tags.get("network.protocol.name") == "smtp":
        return "smtp"
    if celery == "run" or name.startswith("run/"):
        return "task"
    if celery == "apply_async" or tags.get("span.kind") == "producer" or operation in PUBLISH_OPERATIONS:
        return "publish"
    if tags.get("span.kind") == "consumer" or operation in CONSUME_OPERATIONS:
        return "consume"
    is_http = any(key in tags for key in ("http.request.method", "http.method"))
    if is_http and tags.get("span.kind") == "client":
        return "gateway"
    if is_http and tags.get("span.kind") == "server":
        return "request"
    return None


def queue_wait_ms(span: Span, by_id: dict[str, Span]) -> float | None:
    """From the end of the publish this span continues (its parent or a link) to its start."""
    for reference in span.references:
        published = by_id.get(reference)
        if published is not None and hop_kind(published) == "publish":
            return round(max(0, span.start_us - published.start_us - published.duration_us) / 1000, 3)
    return None


def _spans(trace: dict[str, Any]) -> list[Span]:
    """The spans of Jaeger's JSON trace; a span missing what a hop needs is left out."""
    processes = trace.get("processes") if isinstance(trace.get("processes"), dict) else {}
    spans = []
    for raw in trace.get("spans") or []:
        if not isinstance(raw, dict):
            continue
        start, duration = raw.get("startTime"), raw.get("duration")
        if (
            not isinstance(start, int)
            or not isinstance(duration, int)
            or not isinstance(raw.get("spanID"), str)
        ):
            continue
        process = processes.get(raw.get("processID")) or {}
        tags = {
            tag["key"]: tag.get("value")
            for tag in raw.get("tags") or []
            if isinstance(tag, dict) and isinstance(tag.get("key"), str)
        }
        references = tuple(
            ref["spanID"] for ref in raw.get("references") or [] if isinstance(ref, dict) and "spanID" in ref
        )
        spans.append(
            Span(
                span_id=raw["spanID"],
                name=text(raw.get("operationName")) or "?",
                service=text(process.get("serviceName")) or "?",
                start_us=start,
                duration_us=max(0, duration),
                references=references,
                tags=tags,
            )
        )
    return spans


def _ms(moment: datetime) -> float:
    """Epoch milliseconds, keeping the microseconds an event's time carries."""
    return round(moment.timestamp() * 1000, 3)


def _events(ordered: list[ReceivedEvent], origin: float) -> list[JourneyEvent]:
    return [
        JourneyEvent(
            id=item.event.id,
            type=item.event.type,
            source=item.event.source,
            published_ms=round(_ms(item.event.time) - origin, 3),
            received_ms=round(max(0, item.received_ms - origin), 3),
            summary=summarize(item.event.type, item.event.data.model_dump()),
        )
        for item in ordered
    ]


def _journey(
    order_id: str,
    trace_id: str | None,
    origin_kind: Origin,
    origin: float | None,
    events: list[JourneyEvent],
    hops: list[Hop],
) -> Journey:
    ends = [hop.start_ms + (hop.queued_ms or 0) + (hop.processing_ms or 0) for hop in hops]
    ends += [event.received_ms for event in events]
    return Journey(
        order_id=order_id,
        trace_id=trace_id,
        origin=origin_kind,
        note=TRACE_NOTE if origin_kind == "trace" else EVENTS_NOTE,
        origin_epoch_ms=None if origin is None else round(origin),
        total_ms=round(max(ends, default=0), 3),
        events=events,
        hops=hops,
        jaeger_url=None,
        trace_problem=None,
    )
