"""NOTIFY_RATE_LIMIT caps how fast each notifications worker sends."""

from __future__ import annotations

import pytest

from services.notifications.app import create_app
from services.notifications.tasks import send_notification


def send_task_rate_limit() -> str | None:
    return create_app().extensions["celery"].tasks[send_notification.name].rate_limit


def test_the_rate_limit_from_the_environment_applies_to_the_send_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFY_RATE_LIMIT", "5/s")

    assert send_task_rate_limit() == "5/s"


def test_without_it_sending_is_not_rate_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_RATE_LIMIT", raising=False)

    assert send_task_rate_limit() is None
