"""`GET /api/orders/<order_id>/journey`: one order's hops, from its trace when Jaeger has it,
else from the events of the dashboard's own feed (journey.py computes both)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Protocol

import requests
from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from pydantic import BaseModel, StringConstraints, ValidationError
from redis import RedisError

from services.dashboard import feed
from services.dashboard.journey import (
    Journey,
    ReceivedEvent,
    journey_from_events,
    journey_from_trace,
    order_trace_id,
)
from shared.openapi import Operation
from shared.web import invalid

JAEGER_TIMEOUT_S = 3

journey = Blueprint("journey", __name__)


class TraceUnavailable(Exception):
    """Jaeger did not answer, or not with a trace."""


class Traces(Protocol):
    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as Jaeger's JSON (`data[0]` of `/api/traces/<id>`); None if it has none."""


class JaegerQuery:
    """Jaeger's HTTP query API, the one its UI reads."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        try:
            answer = self.session.get(f"{self.base_url}/api/traces/{trace_id}", timeout=JAEGER_TIMEOUT_S)
        except requests.RequestException as exc:
            raise TraceUnavailable(f"Jaeger does not answer at {self.base_url}") from exc
        if answer.status_code == 404:
            return None
        try:
            answer.raise_for_status()
            found = answer.json().get("data") or []
        except (requests.RequestException, ValueError, AttributeError) as exc:
            raise TraceUnavailable(f"Jaeger answered with no trace: {exc}") from exc
        return found[0] if found and isinstance(found[0], dict) else None


@journey.record_once
def _connect_jaeger(state: BlueprintSetupState) -> None:
    """A configured Jaeger is asked for traces; a test puts its fake in `traces` instead."""
    settings = state.app.config["SETTINGS"]
    state.app.config.setdefault("JAEGER_UI_URL", settings.jaeger_ui_url or settings.jaeger_query_url)
    state.app.extensions["traces"] = (
        JaegerQuery(settings.jaeger_query_url) if settings.jaeger_query_url else None
    )


class JourneyPath(BaseModel):
    order_id: uuid.UUID


class JourneyQuery(BaseModel):
    """`trace_id` picks the trace to read instead of the one the order's events carry."""

    trace_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None


@journey.get("/api/orders/<order_id>/journey")
def order_journey(order_id: str) -> Response:
    try:
        order_id = str(JourneyPath.model_validate({"order_id": order_id}).order_id)
        chosen_trace = JourneyQuery.model_validate(request.args.to_dict()).trace_id
    except ValidationError as exc:
        return invalid(400, exc)
    received = _order_events(order_id)
    if not received and chosen_trace is None:
        window_min = current_app.config["HISTORY_WINDOW_S"] // 60
        abort(404, description=f"order_id: no event of {order_id} in the dashboard's last {window_min} min")
    trace_id = chosen_trace or order_trace_id(received)
    answer, problem, link = journey_from_events(order_id, received, trace_id), None, None
    traces: Traces | None = current_app.extensions["traces"]
    if traces is not None and trace_id is not None:
        try:
            trace = traces.trace(trace_id)
        except TraceUnavailable as exc:
            problem = str(exc)
        else:  # Jaeger runs: its page of the trace is worth a link, even before the trace is in
            link = f"{current_app.config['JAEGER_UI_URL'].rstrip('/')}/trace/{trace_id}"
            if trace is None:
                problem = f"Jaeger has no trace {trace_id} (yet)"
            else:
                answer = journey_from_trace(order_id, received, trace_id, trace)
    return jsonify(
        answer.model_copy(update={"jaeger_url": link, "trace_problem": problem}).model_dump(mode="json")
    )


def _order_events(order_id: str) -> list[ReceivedEvent]:
    """The order's events in the dashboard's recent feed, each with when it was appended
    (a feed entry id is that millisecond). Only entries naming the order are decoded."""
    config = current_app.config
    since_ms = int((time.time() - config["HISTORY_WINDOW_S"]) * 1000)
    try:
        entries = current_app.extensions["redis"].xrevrange(
            config["SETTINGS"].key("feed"), min=since_ms, count=config["HISTORY_MAX_EVENTS"]
        )
    except RedisError:
        abort(503, description="the dashboard's Redis does not answer: retry")
    found = []
    for entry_id, fields in reversed(entries):
        if order_id not in fields.get("event", ""):
            continue
        event = feed.read_entry(fields)
        if event is not None and order_id in (event.subject, getattr(event.data, "order_id", None)):
            found.append(ReceivedEvent(event, int(entry_id.split("-")[0])))
    return found


OPERATIONS = (
    Operation(
        "get",
        "/api/orders/{order_id}/journey",
        "One order's hops, queued vs processed: from its trace in Jaeger, else from its events",
        {200: Journey, 400: None, 404: None, 503: None},
        path_params=JourneyPath,
        query=JourneyQuery,
    ),
)
