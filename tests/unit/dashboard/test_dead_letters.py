"""Reading why a message was dead-lettered, and what a replayed message carries."""

from __future__ import annotations

from datetime import UTC, datetime

from services.dashboard.dead_letters import describe, message_key
from tests.support.events import order_placed


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
    assert (letter.event_type, letter.order_id) == ("order.placed", "o-1")
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
