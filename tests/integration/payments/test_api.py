"""The payments read API and ops endpoints, on the real Redis and broker inside a sandbox."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from services.payments.app import create_app
from shared.settings import Settings
from tests.integration.payments.conftest import requested
from tests.support.events import ORDER_ID


@pytest.fixture
def client(settings: Settings) -> FlaskClient:
    """The app reads the sandbox's environment, which the settings fixture set."""
    return create_app({"TESTING": True}).test_client()


def test_the_payment_of_an_order_and_what_the_gateway_charged(client: FlaskClient) -> None:
    app = client.application
    payment = requested(ORDER_ID)
    app.extensions["ledger"].add(payment)
    result = app.extensions["gateway"].charge(ORDER_ID, "tok_visa", 2500, "EUR")
    app.extensions["ledger"].settle(payment.settle(result.approved, result.payment_id))

    body = client.get(f"/api/payments?order_id={ORDER_ID}").get_json()

    assert body["gateway_charges"] == 1
    [shown] = body["payments"]
    assert (shown["status"], shown["payment_id"], shown["amount_cents"]) == (
        "authorized",
        result.payment_id,
        2500,
    )
    assert "token" not in shown


def test_an_order_without_payment_has_none(client: FlaskClient) -> None:
    body = client.get("/api/payments?order_id=o-none").get_json()

    assert body == {"order_id": "o-none", "gateway_charges": 0, "payments": []}


@pytest.mark.parametrize("query", ["", "?order_id=", "?order_id=%20"])
def test_a_missing_order_id_is_a_400_naming_the_field(client: FlaskClient, query: str) -> None:
    response = client.get("/api/payments" + query)

    assert response.status_code == 400
    assert response.get_json()["field"] == "order_id"


def test_ready_when_redis_and_the_broker_answer(client: FlaskClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200, response.get_json()
