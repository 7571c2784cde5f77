"""What every service's web process does at its edge: the Host allowlist, one error body, the
OpenAPI 3.1 document of its routes; and what no answer contains (payment tokens)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask

from services.dashboard.app import create_app as dashboard_app
from services.loyalty.app import create_app as loyalty_app
from services.notifications.app import create_app as notifications_app
from services.orders import model
from services.orders.api import OrderView, order_json
from services.orders.app import create_app as orders_app
from services.orders.model import OrderLine
from services.payments.api import PaymentView, _public
from services.payments.app import create_app as payments_app
from services.payments.model import Payment
from shared.envelope import Cause

FACTORIES = {
    "orders": orders_app,
    "payments": payments_app,
    "notifications": notifications_app,
    "dashboard": dashboard_app,
    "loyalty": loyalty_app,
}


@pytest.fixture(params=FACTORIES)
def app(request: pytest.FixtureRequest) -> Flask:
    return FACTORIES[request.param]()


def test_every_service_serves_an_openapi_3_1_document_of_its_routes(app: Flask) -> None:
    document = app.test_client().get("/openapi.json").get_json()

    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == app.name
    routes = {rule.rule.replace("<", "{").replace(">", "}") for rule in app.url_map.iter_rules()}
    undocumented = {
        "/metrics",
        "/openapi.json",
        "/api/stream",
        "/catalog",
        "/",
        "/assets/{path:filename}",
        "/static/{path:filename}",
    }
    assert set(document["paths"]) == routes - undocumented
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"], (method, path)
            assert all("application/json" in r["content"] for r in operation["responses"].values())


def test_operator_operations_say_so_in_the_document() -> None:
    document = orders_app().test_client().get("/openapi.json").get_json()

    listing = document["paths"]["/api/orders"]["get"]
    assert listing["security"] == [{"operatorToken": []}]
    assert "401" in listing["responses"]
    assert "security" not in document["paths"]["/api/orders"]["post"]
    assert document["components"]["securitySchemes"]["operatorToken"]["scheme"] == "bearer"


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8001", "orders-api:8001"])
def test_a_trusted_host_is_served(host: str) -> None:
    assert orders_app().test_client().get("/api/catalog", headers={"Host": host}).status_code == 200


def test_an_unknown_host_is_refused_with_a_json_400(app: Flask) -> None:
    answer = app.test_client().get("/healthz", headers={"Host": "attacker.example"})

    assert answer.status_code == 400
    assert "not trusted" in answer.get_json()["detail"]


def test_trusted_hosts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_HOSTS", "shop.example, .shop.test")
    client = orders_app().test_client()

    assert client.get("/api/catalog", headers={"Host": "api.shop.test"}).status_code == 200
    assert client.get("/api/catalog", headers={"Host": "localhost"}).status_code == 400


def test_a_bad_query_is_refused_naming_the_field() -> None:
    client = orders_app({"OPERATOR_TOKEN": "t"}).test_client()

    answer = client.get("/api/orders?limit=501", headers={"Authorization": "Bearer t"})

    assert answer.status_code == 400
    assert answer.get_json()["errors"][0]["field"] == "limit"


def test_past_the_rate_limit_a_client_gets_429_with_retry_after() -> None:
    limited = {"ORDERS_RATE_LIMIT": "2/minute", "RATELIMIT_STORAGE_URI": "memory://", "OPERATOR_TOKEN": "t"}
    client = orders_app(limited).test_client()
    not_json = {"data": "x", "content_type": "text/plain"}  # counted, then refused before the store

    answers = [client.post("/api/orders", **not_json).status_code for _ in range(3)]
    operator = client.post("/api/orders", **not_json, headers={"Authorization": "Bearer t"})

    assert answers == [415, 415, 429]
    refused = client.post("/api/orders", **not_json)
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["field"] == "client"
    assert operator.status_code == 415


def test_a_bad_idempotency_key_is_refused_naming_the_header() -> None:
    client = orders_app({"RATELIMIT_STORAGE_URI": "memory://"}).test_client()

    answer = client.post("/api/orders", json={}, headers={"Idempotency-Key": "with space"})

    assert answer.status_code == 400
    assert answer.get_json()["field"] == "Idempotency-Key"


def test_an_order_as_the_api_shows_it_has_no_payment_token() -> None:
    now = datetime.now(UTC)
    order = model.place("o-1", "ada@example.com", (OrderLine("MUG", "Mug", 1, 900),), "tok_secret_visa", now)

    shown = order_json(order)

    assert "tok_secret_visa" not in repr(shown)
    assert "payment_token" not in OrderView.model_fields
    OrderView.model_validate(shown)


def test_a_payment_as_the_api_shows_it_has_no_token() -> None:
    payment = Payment("o-1", 900, "EUR", "tok_secret_visa", Cause("c-1", "00-trace-span-01"))

    shown = _public(payment)

    assert "tok_secret_visa" not in repr(shown)
    assert "token" not in PaymentView.model_fields
    PaymentView.model_validate(shown)
