"""The delay knob: changed over HTTP while notifications runs, picked up by workers."""

from __future__ import annotations

import pytest

from harness.sandbox import Sandbox
from services.notifications.app import create_app
from services.notifications.knobs import Knobs

OPERATOR = {"Authorization": "Bearer operator-token"}


@pytest.fixture
def client(sandbox: Sandbox, monkeypatch):
    monkeypatch.setenv("REDIS_PREFIX", sandbox.redis_prefix)
    monkeypatch.setenv("NOTIFY_DELAY_MS", "5")
    monkeypatch.setenv("OPERATOR_TOKEN", "operator-token")
    return create_app().test_client()


def test_the_delay_starts_from_the_environment_and_changes_at_run_time(client) -> None:
    assert client.get("/api/settings", headers=OPERATOR).get_json() == {"notify_delay_ms": 5}

    changed = client.put("/api/settings", json={"notify_delay_ms": 200}, headers=OPERATOR)

    assert changed.status_code == 200
    assert changed.get_json() == {"notify_delay_ms": 200}
    app = client.application
    worker_view = Knobs(app.extensions["redis"], app.config["SETTINGS"], cache_s=0)
    assert worker_view.delay_ms() == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notify_delay_ms": -1}, "notify_delay_ms"),
        ({"notify_delay_ms": "9"}, "notify_delay_ms"),
        ({"colour": 1}, "colour"),
        ([], "body"),
    ],
)
def test_a_bad_knob_is_refused_naming_the_field_and_changes_nothing(client, body, field) -> None:
    response = client.put("/api/settings", json=body, headers=OPERATOR)

    assert response.status_code == 422
    assert response.get_json()["field"] == field
    assert client.get("/api/settings", headers=OPERATOR).get_json() == {"notify_delay_ms": 5}
