"""Reading why a message was dead-lettered, and what a replayed message carries."""

from __future__ import annotations

from datetime import UTC, datetime

from services.dashboard.dead_letters import describe, message_key, replay_headers, replay_queue
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


def test_a_replayed_message_loses_its_failure_history_and_counts_the_replay() -> None:
    failed = {
        "x-death-reason": "exhausted",
        "x-error": "boom",
        "x-attempt": 4,
        "x-dead-lettered-at": "2026-01-01T12:00:00+00:00",
        "x-death": [{"reason": "rejected"}],
        "x-delivery-count": 3,
        "x-original-routing-key": "order.placed",
        "x-replay-count": 1,
    }

    headers = replay_headers(failed)

    assert headers["x-replay-count"] == 2
    assert headers["x-original-routing-key"] == "order.placed"
    assert "x-replayed-at" in headers
    assert not {"x-death-reason", "x-error", "x-attempt", "x-death", "x-delivery-count"} & set(headers)


def test_the_replay_count_survives_being_dead_lettered_again() -> None:
    replayed = replay_headers({"x-attempt": 1})
    dead_again = {**replayed, "x-death-reason": "invalid", "x-attempt": 1}

    assert describe(dead_again, b"x").replays == 1


def test_a_dead_task_is_replayed_to_the_task_queue_and_an_event_to_the_event_queue() -> None:
    task_death = {"x-death": [{"queue": b"payments.tasks", "reason": b"rejected", "count": 1}]}
    assert replay_queue("payments", task_death) == "payments.tasks"
    assert replay_queue("payments", {"x-death-reason": "exhausted"}) == "payments"
    assert replay_queue("payments", {"x-death": [{"queue": b"orders.tasks"}]}) == "payments"


def test_an_event_parked_after_its_retries_is_replayed_to_the_event_queue_not_a_retry_queue() -> None:
    retried = {"x-death": [{"queue": b"payments.retry.25s", "reason": b"expired", "count": 1}]}
    assert replay_queue("payments", {**retried, "x-death-reason": "exhausted"}) == "payments"


def test_a_replayed_task_gets_its_retries_back_and_runs_now() -> None:
    headers = replay_headers(
        {"task": "charge_order", "retries": 40, "eta": "2026-01-01T00:00:00", "x-death": []}
    )

    assert headers["retries"] == 0
    assert "eta" not in headers
    assert "x-death" not in headers
