"""Operator actions need `Authorization: Bearer <OPERATOR_TOKEN>`; shopping needs nothing.

The services' Flask apps with the test client; nothing here reaches Redis or the broker: a
refused request never gets past the token check, and the answers that do use small fakes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from services.dashboard.app import create_app as dashboard_app
from services.loyalty.app import create_app as loyalty_app
from services.notifications.app import create_app as notifications_app
from services.orders.app import create_app as orders_app
from tests.unit.dashboard.test_routes import FakeDeadLetters

TOKEN = "the-operator-token"
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}

# (app factory, method, path, JSON body): every operator endpoint of the shop
OPERATOR_ACTIONS: list[tuple[Callable[..., Flask], str, str, object]] = [
    (orders_app, "GET", "/api/orders", None),
    (notifications_app, "GET", "/api/settings", None),
    (notifications_app, "PUT", "/api/settings", {"notify_delay_ms": 10_000}),
    (loyalty_app, "GET", "/api/points", None),
    (dashboard_app, "GET", "/api/dead-letters/payments", None),
    (dashboard_app, "POST", "/api/dead-letters/payments/replay", {}),
]
IDS = [f"{factory.__module__.split('.')[1]} {method} {path}" for factory, method, path, _ in OPERATOR_ACTIONS]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ],
    ids=["none", "wrong", "not bearer", "empty", "longer"],
)
@pytest.mark.parametrize(("factory", "method", "path", "body"), OPERATOR_ACTIONS, ids=IDS)
def test_an_operator_action_without_the_token_is_refused_with_401(
    factory, method, path, body, headers
) -> None:
    client = factory({"OPERATOR_TOKEN": TOKEN}).test_client()

    answer = client.open(path, method=method, json=body, headers=headers)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.get_json()["field"] == "Authorization"


@pytest.mark.parametrize(("factory", "method", "path", "body"), OPERATOR_ACTIONS, ids=IDS)
def test_a_service_without_an_operator_token_refuses_every_operator_action(
    factory, method, path, body
) -> None:
    client = factory({"OPERATOR_TOKEN": ""}).test_client()

    answer = client.open(path, method=method, json=body, headers={"Authorization": "Bearer "})

    assert answer.status_code == 401
    assert "without OPERATOR_TOKEN" in answer.get_json()["detail"]


def test_the_operator_token_opens_an_operator_action() -> None:
    app = dashboard_app({"OPERATOR_TOKEN": TOKEN})
    app.extensions["dead_letters"] = FakeDeadLetters("m-1")
    client = app.test_client()

    peeked = client.get("/api/dead-letters/payments", headers=OPERATOR)
    replayed = client.post("/api/dead-letters/payments/replay", json={}, headers=OPERATOR)

    assert peeked.status_code == 200 and peeked.get_json()["depth"] == 1
    assert replayed.get_json() == {"service": "payments", "replayed": 1}


def test_the_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPERATOR_TOKEN", TOKEN)

    assert dashboard_app().config["OPERATOR_TOKEN"] == TOKEN
    assert "the-operator-token" not in repr(dashboard_app().config["SETTINGS"])  # never logged


def test_shopping_needs_no_token() -> None:
    client = orders_app({"OPERATOR_TOKEN": TOKEN, "RATELIMIT_STORAGE_URI": "memory://"}).test_client()

    assert client.get("/api/catalog").status_code == 200
    assert client.post("/api/orders", data="x", content_type="text/plain").status_code == 415  # not 401


def test_a_burst_through_the_dashboard_with_a_wrong_token_is_refused_there() -> None:
    client = dashboard_app({"OPERATOR_TOKEN": TOKEN, "ORDERS_URL": "http://127.0.0.1:9"}).test_client()

    wrong = client.post("/api/shop/orders", json={}, headers={"Authorization": "Bearer wrong"})
    shopper = client.post("/api/shop/orders", json={})  # forwarded: nothing listens on port 9

    assert wrong.status_code == 401
    assert shopper.status_code == 502
