"""The Celery worker's consumer as shared.celery_app changes it: heartbeat retries bounded, and no
DelayedDelivery step (infra declares Celery's delay queues)."""

from __future__ import annotations

from typing import Any

from shared.celery_app import HEARTBEAT_RETRY_POLICY, BoundedHeart, TaskConsumer


class FakeDispatcher:
    """An event dispatcher that records what it was asked to send."""

    def __init__(self) -> None:
        self.enabled = True
        self.on_enabled: set[Any] = set()
        self.on_disabled: set[Any] = set()
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, event: str, **fields: Any) -> None:
        self.sent.append((event, fields))


class FakeTimer:
    def __init__(self) -> None:
        self.repeated: list[tuple[float, Any, tuple]] = []

    def call_repeatedly(self, interval: float, fun: Any, args: tuple) -> object:
        self.repeated.append((interval, fun, args))
        return object()


class FakeWorkerConsumer:
    def __init__(self) -> None:
        self.timer = FakeTimer()
        self.event_dispatcher = FakeDispatcher()


def test_a_heartbeat_retries_a_lost_connection_a_few_times_not_forever() -> None:
    c = FakeWorkerConsumer()
    step = BoundedHeart(c, heartbeat_interval=2.0)

    step.start(c)
    _interval, beat, args = c.timer.repeated[0]
    beat(*args)

    assert [event for event, _ in c.event_dispatcher.sent] == ["worker-online", "worker-heartbeat"]
    for _event, fields in c.event_dispatcher.sent:
        assert fields["retry"] is True
        assert fields["retry_policy"] == HEARTBEAT_RETRY_POLICY
    assert 0 < HEARTBEAT_RETRY_POLICY["max_retries"] <= 5


def test_the_worker_consumer_runs_the_bounded_heartbeat_and_no_delayed_delivery() -> None:
    steps = TaskConsumer.Blueprint.default_steps

    assert "shared.celery_app:BoundedHeart" in steps
    assert not [step for step in steps if step.endswith((":Heart", ":DelayedDelivery"))]
