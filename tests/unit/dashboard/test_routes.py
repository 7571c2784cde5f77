"""The dashboard's HTTP edges with small fakes in place of the broker: answers and refusals."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from services.dashboard.app import create_app
from services.dashboard.broker_map import ManagementUnavailable
from services.dashboard.dead_letters import DeadLetter, NoSuchQueue
from shared.contract import EVENT_TYPES


class UnreachableManagement:
    def state(self) -> None:
        raise ManagementUnavailable("connection refused")


class FakeDeadLetters:
    """One DLQ, `payments`, holding the messages with the given keys."""

    def __init__(self, *keys: str) -> None:
        self.keys = list(keys)

    def peek(self, service: str) -> tuple[int, list[DeadLetter]]:
        if service != "payments":
            raise NoSuchQueue(service)
        letters = [DeadLetter(k, "invalid", "not JSON", 1, None, 0, None, None, "x") for k in self.keys]
        return len(letters), letters

    def replay(self, service: str, key: str | None = None) -> int:
        if service != "payments":
            raise NoSuchQueue(service)
        chosen = [k for k in self.keys if key in (None, k)]
        self.keys = [k for k in self.keys if k not in chosen]
        return len(chosen)


OPERATOR = {"Authorization": "Bearer operator-token"}


@pytest.fixture
def client() -> FlaskClient:
    nowhere = "http://127.0.0.1:9"  # nothing listens on port 9
    app = create_app({"ORDERS_URL": nowhere, "OPERATOR_TOKEN": "operator-token", "MAX_STREAMS": 2})
    app.extensions["management"] = UnreachableManagement()
    app.extensions["dead_letters"] = FakeDeadLetters("m-1", "m-2")
    return app.test_client()


def test_the_page_loads_its_own_assets_only(client: FlaskClient) -> None:
    page = client.get("/")

    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert b'<script type="module" src="/assets/app.js?v=' in page.data
    assert not re.search(rb"<script(?![^>]*\ssrc=)", page.data)  # an inline one: the policy blocks it
    assert client.get("/assets/app.js").status_code == 200
    assert client.get("/assets/js/live-feed.js").mimetype == "text/javascript"  # a module needs it
    assert b"http" not in client.get("/assets/app.css").data  # no CDN, no remote font


def test_the_page_gets_the_event_types_of_the_contract_it_shows(client: FlaskClient) -> None:
    listed = client.get("/api/event-types").get_json()["event_types"]

    assert listed == [name for name in EVENT_TYPES if name != "service.heartbeat"]
    assert listed[:2] == ["order.placed", "payment.authorized"]  # the contract's order: the chips'


def test_dead_letters_are_listed_with_their_reason(client: FlaskClient) -> None:
    body = client.get("/api/dead-letters/payments", headers=OPERATOR).get_json()

    assert body["depth"] == 2
    assert [(m["key"], m["reason"]) for m in body["messages"]] == [("m-1", "invalid"), ("m-2", "invalid")]


def test_an_unknown_service_has_no_dead_letters(client: FlaskClient) -> None:
    answer = client.get("/api/dead-letters/nobody", headers=OPERATOR)

    assert answer.status_code == 404
    assert "nobody" in answer.get_json()["detail"]


def test_replay_one_then_all(client: FlaskClient) -> None:
    one = client.post("/api/dead-letters/payments/replay", json={"key": "m-2"}, headers=OPERATOR)
    rest = client.post("/api/dead-letters/payments/replay", json={}, headers=OPERATOR)

    assert one.get_json() == {"service": "payments", "replayed": 1}
    assert rest.get_json() == {"service": "payments", "replayed": 1}


def test_replaying_a_message_no_longer_there_names_the_key(client: FlaskClient) -> None:
    answer = client.post("/api/dead-letters/payments/replay", json={"key": "gone"}, headers=OPERATOR)

    assert answer.status_code == 404
    assert answer.get_json()["detail"].startswith("key:")


def test_replay_takes_json_only_and_a_string_key(client: FlaskClient) -> None:
    form = client.post("/api/dead-letters/payments/replay", data={"key": "m-1"}, headers=OPERATOR)
    number = client.post("/api/dead-letters/payments/replay", json={"key": 5}, headers=OPERATOR)

    assert form.status_code == 415
    assert number.status_code == 400
    assert number.get_json()["detail"].startswith("key:")


def test_the_map_says_when_the_management_api_is_off(client: FlaskClient) -> None:
    answer = client.get("/api/map")

    assert answer.status_code == 503
    assert "rabbitmq_management" in answer.get_json()["detail"]


def test_the_shop_says_when_the_orders_api_does_not_answer(client: FlaskClient) -> None:
    answer = client.get("/api/shop/catalog")

    assert answer.status_code == 502
    assert "http://127.0.0.1:9" in answer.get_json()["detail"]


def test_live_streams_past_the_cap_are_told_to_come_back(client: FlaskClient) -> None:
    """Each stream holds a thread for minutes: past MAX_STREAMS a process refuses at once."""
    held = [client.get("/api/stream", buffered=False) for _ in range(2)]  # not read: no Redis needed

    refused = client.get("/api/stream")
    held[0].close()  # a browser leaves
    again = client.get("/api/stream", buffered=False)

    assert [answer.status_code for answer in held] == [200, 200]
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "5"
    assert "2 live streams at most" in refused.get_json()["detail"]
    assert again.status_code == 200
    for answer in (held[1], again):
        answer.close()
