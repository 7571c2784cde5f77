"""Reading why a message was dead-lettered, and what a replayed message carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.dashboard.dead_letters import describe, message_key
from tests.support.events import ORDER_ID, order_placed


def test_the_consumers_own_headers_give_reason_error_and_attempts() -> None:
    headers = {
        "x-death-reason": "exhausted",
        "x-error": "GatewayTimeout: no answer in 5s",
        "x-attempt": 4,
        "x-dead-lettered-at": "2026-01-01T12:00:00+00:00",
    }

    letter = describe(headers, order_placed().to_json(), "evt-1")

    assert letter.reason == "exhausted"
    assert letter.error == "GatewayTimeout: no answer in 5s"
    assert letter.attempts == 4
    assert letter.dead_lettered_at == "2026-01-01T12:00:00+00:00"
    assert (letter.event_type, letter.order_id) == ("order.placed", ORDER_ID)
    assert letter.key == "evt-1"
    assert letter.replays == 0


def test_the_brokers_x_death_is_read_when_the_broker_dead_lettered_it() -> None:
    headers = {
        "x-death": [
            {
                "reason": "delivery_limit",
                "queue": "payments",
                "count": 1,
                "exchange": "shop.events",
                "time": datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
                "routing-keys": ["order.placed"],
            }
        ]
    }

    letter = describe(headers, order_placed().to_json())

    assert letter.reason == "delivery_limit"
    assert letter.error == "dead-lettered by the broker from payments (delivery_limit)"
    assert letter.attempts == 1
    assert letter.dead_lettered_at == "2026-01-01T12:00:00+00:00"


def test_a_poison_message_without_id_is_keyed_by_its_body() -> None:
    headers = {"x-death-reason": b"invalid", "x-error": b"body is not JSON"}

    letter = describe(headers, b"\xff not json")

    assert letter.reason == "invalid"
    assert letter.error == "body is not JSON"
    assert letter.event_type is None
    assert letter.key == message_key(None, b"\xff not json")
    assert letter.key != message_key(None, b"another body")
    assert letter.preview.endswith("not json")


def test_no_headers_at_all_is_an_unknown_reason() -> None:
    letter = describe(None, b"{}")

    assert (letter.reason, letter.error, letter.attempts) == ("unknown", "", None)


def test_replays_are_counted_from_the_dlq_s_own_deaths_and_the_reason_from_the_others() -> None:
    """A replay rejects the message from the DLQ: the broker records that in x-death, next to
    the death that brought a task there."""
    headers = {
        "x-death": [
            {"queue": b"payments.tasks", "reason": b"rejected", "count": 2},
            {"queue": b"payments.dlq", "reason": b"rejected", "count": 1},
        ]
    }

    letter = describe(headers, b"x")

    assert letter.replays == 1
    assert letter.reason == "rejected"
    assert letter.error == "dead-lettered by the broker from payments.tasks (rejected)"


def test_a_parked_event_replayed_and_parked_again_keeps_its_count() -> None:
    headers = {
        "x-death-reason": "exhausted",
        "x-death": [{"queue": b"payments.dlq", "reason": b"rejected", "count": 2}],
    }

    assert (describe(headers, b"x").reason, describe(headers, b"x").replays) == ("exhausted", 2)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-attempt": "4", "x-death-reason": 7, "x-error": {"nested": [1]}, "x-dead-lettered-at": 1.5},
        {"x-attempt": -3, "x-death": "not a list"},
        {"x-attempt": 2**63, "x-death": [None, "x", {"count": "many", "queue": 5}]},
        {"x-attempt": True, "x-death": [{"queue": b"payments.dlq", "count": -1}, {"count": 10**30}]},
        {"x-death": [{"queue": "payments", "time": "yesterday", "reason": b"\xff\xfe"}]},
        {"x-death": [{"queue": "payments", "time": datetime(1, 1, 1)}], "x-first-death-queue": None},
        {"x-error": "x" * 1_000_000},
    ],
)
def test_headers_the_publisher_chose_are_shown_as_missing_never_raised(headers: dict) -> None:
    """Found by issue 15: these went through int() and the dead-letter panel answered 500."""
    letter = describe(headers, b"x")

    assert letter.attempts is None or 0 <= letter.attempts <= 10**9
    assert len(letter.error) <= 1000
    assert isinstance(letter.replays, int)
    json.dumps(letter.to_json(), allow_nan=False)


def test_a_count_of_the_wrong_type_counts_one_replay_and_gives_no_attempts() -> None:
    headers = {
        "x-attempt": "3",
        "x-death": [
            {"queue": "payments.dlq", "count": "2"},
            {"queue": "payments", "reason": "delivery_limit", "count": -5},
        ],
    }

    letter = describe(headers, b"x")

    assert (letter.attempts, letter.replays, letter.reason) == (None, 1, "delivery_limit")
