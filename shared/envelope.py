"""CloudEvents 1.0 envelope (structured JSON mode) around the typed event data.

`new_event` validates before anything is sent; `decode` turns bytes from the wire
into an `Event` or raises `InvalidEvent`, which the consumer sends to the DLQ at once.
An observer that shows every event (the dashboard) decodes with `any_type=True`: a type
the contract does not list yet keeps its data as sent, untyped, instead of being refused.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    SerializeAsAny,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from shared.contract import EVENT_TYPES, Code, EventData, Id, VisibleText

# Dotted lower-case words (`order.placed`): also what an observer accepts of a type the contract
# does not list yet, so a routing key, a metric label or a page never carries anything else.
EventType = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30}){1,3}$")]
TraceParent = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
]
_EVENT_TYPE = TypeAdapter(EventType)

CONTENT_TYPE = "application/cloudevents+json"


class InvalidEvent(ValueError):
    """An event that can never be processed: unknown type, bad JSON or bad data."""


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: Id
    source: Code
    type: EventType
    time: AwareDatetime
    subject: VisibleText | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: SerializeAsAny[EventData]
    correlationid: VisibleText
    traceparent: TraceParent

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


@dataclass(frozen=True)
class Cause:
    """What an effect carries forward from the event that caused it: the correlation id, and
    the trace (the effect is its next span). A service that publishes its effect later keeps
    this, not the whole event (payments, notifications)."""

    correlationid: str
    traceparent: str

    @classmethod
    def of(cls, event: Event) -> Cause:
        return cls(event.correlationid, event.traceparent)

    def to_fields(self) -> dict[str, str]:
        """As fields of the record that keeps it (a Redis hash)."""
        return {"correlation_id": self.correlationid, "cause_traceparent": self.traceparent}

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> Cause:
        """Read back; a record written before causes were kept this way has neither field."""
        return cls(raw.get("correlation_id", ""), raw.get("cause_traceparent", ""))


def new_traceparent(parent: str | None = None) -> str:
    """W3C traceparent: keep the trace id of the cause, new span id for this hop."""
    trace_id = parent.split("-")[1] if parent else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def validate_data(event_type: str, data: EventData | dict[str, Any], *, any_type: bool = False) -> EventData:
    model = EVENT_TYPES.get(event_type)
    if model is None and any_type:
        model = EventData  # a type the contract does not list (yet): its fields as sent
    if model is None:
        raise InvalidEvent(f"unknown event type {event_type!r}")
    try:
        if isinstance(data, model):
            return data
        raw = data.model_dump() if isinstance(data, BaseModel) else data
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid data for {event_type}: {_summary(exc)}") from exc


def new_event(
    event_type: str,
    data: EventData | dict[str, Any],
    *,
    source: str,
    subject: str | None = None,
    caused_by: Event | Cause | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> Event:
    """Build a validated event; `caused_by` carries correlation id and trace forward."""
    valid = validate_data(event_type, data)
    return Event(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=event_type,
        time=datetime.now(UTC),
        subject=subject if subject is not None else getattr(valid, "order_id", None),
        data=valid,
        correlationid=(caused_by.correlationid if caused_by else None) or correlation_id or str(uuid.uuid4()),
        traceparent=new_traceparent(caused_by.traceparent if caused_by else None),
    )


def decode(body: bytes, *, any_type: bool = False) -> Event:
    try:
        raw = json.loads(body, parse_constant=_not_json)
    # ValueError: also not UTF-8, or an integer of more digits than Python converts;
    # RecursionError: arrays or objects nested deeper than the parser goes
    except (ValueError, RecursionError) as exc:
        raise InvalidEvent(f"body is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidEvent("body is not a JSON object")
    event_type = raw.get("type")
    if not isinstance(event_type, str):
        raise InvalidEvent("envelope field 'type' is missing")
    try:
        _EVENT_TYPE.validate_python(event_type)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid envelope: type: {exc.errors()[0]['msg']}") from exc
    raw["data"] = validate_data(event_type, raw.get("data") or {}, any_type=any_type)
    try:
        return Event.model_validate(raw)
    except ValidationError as exc:
        raise InvalidEvent(f"invalid envelope: {_summary(exc)}") from exc


def _not_json(constant: str) -> float:
    """NaN and Infinity, which Python's parser takes but JSON has not (sent on, they became null)."""
    raise ValueError(f"{constant} is not a JSON value")


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or '<root>'}: {err['msg']}" for err in exc.errors())
