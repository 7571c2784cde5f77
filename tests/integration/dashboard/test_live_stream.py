"""The live stream against the real Redis: recent history and live updates, both from the
dashboard's own feed, so a browser costs no AMQP connection (the broker here is unreachable)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from harness.sandbox import Sandbox
from services.dashboard import feed
from services.dashboard.app import create_app
from shared.envelope import new_event
from tests.support.events import ORDER_ID, SAMPLE_DATA, order_placed

UNREACHABLE_BROKER = "amqp://guest:guest@127.0.0.1:9/%2f"  # nothing listens on port 9


@pytest.fixture
def app(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Flask:
    for name, value in {**sandbox.env(), "AMQP_URL": UNREACHABLE_BROKER}.items():
        monkeypatch.setenv(name, value)
    return create_app({"TESTING": True, "STREAM_MAX_S": 10, "KEEPALIVE_S": 1})


def append(app: Flask, event: Any) -> None:
    feed.append(app.extensions["redis"], app.config["SETTINGS"].key("feed"), event)


def sse_events(chunks: Iterator[bytes]) -> Iterator[tuple[str, Any, bytes]]:
    """(event name, its data, the raw chunk) for each named event of the stream."""
    for chunk in chunks:
        if chunk.startswith(b"event: "):
            name, data = chunk.decode().split("\n")[:2]
            yield name.removeprefix("event: "), json.loads(data.removeprefix("data: ")), chunk


def test_a_browser_gets_history_then_updates_without_tokens_or_whole_emails(app: Flask) -> None:
    append(app, order_placed("tok_visa"))
    answer = app.test_client().get("/api/stream", buffered=False)
    events = sse_events(iter(answer.response))
    try:
        name, snapshot, raw = next(events)
        assert name == "snapshot"
        assert [(o["order_id"], o["customer_email"]) for o in snapshot["orders"]] == [
            (ORDER_ID, "a***@example.com")
        ]
        assert b"tok_visa" not in raw and b"ada@example.com" not in raw

        append(app, new_event("order.confirmed", SAMPLE_DATA["order.confirmed"], source="orders"))
        name, updates, raw = next(events)
        assert name == "updates"
        assert [u["order"]["status"] for u in updates] == ["CONFIRMED"]
        assert b"ada@example.com" not in raw
    finally:
        answer.close()
