"""`POST /api/orders` is rate-limited per client, counted in orders' own Redis as orders' own
ACL user (infra/privileges.py): real Redis, the sandbox's users, the orders app's test client."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from harness.sandbox import Sandbox, redis_db
from infra.stack import REDIS_DB
from services.orders.app import create_app

TOKEN = "the-operator-token"
LIMIT = 3
SHOPPER = {"REMOTE_ADDR": "192.0.2.10"}
ANOTHER_SHOPPER = {"REMOTE_ADDR": "192.0.2.20"}


@pytest.fixture
def client(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    monkeypatch.setenv("REDIS_URL", sandbox.redis_url_for("orders", REDIS_DB["orders"]))
    monkeypatch.setenv("REDIS_PREFIX", sandbox.redis_prefix)
    monkeypatch.setenv("ORDERS_RATE_LIMIT", f"{LIMIT}/minute")
    monkeypatch.setenv("OPERATOR_TOKEN", TOKEN)
    return create_app().test_client()


def place(client: FlaskClient, environ: dict[str, str], **headers: str):
    """A request the limiter counts and the API then refuses cheaply (415: not JSON)."""
    return client.post(
        "/api/orders", data="x", content_type="text/plain", environ_base=environ, headers=headers
    )


def test_past_the_limit_a_client_gets_429_with_retry_after_and_a_json_body(client: FlaskClient) -> None:
    answers = [place(client, SHOPPER).status_code for _ in range(LIMIT)]

    refused = place(client, SHOPPER)

    assert answers == [415] * LIMIT
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert refused.get_json()["field"] == "client"
    assert place(client, ANOTHER_SHOPPER).status_code == 415  # per client
    assert place(client, SHOPPER, Authorization=f"Bearer {TOKEN}").status_code == 415  # an operator's burst
    assert client.get("/api/catalog", environ_base=SHOPPER).status_code == 200  # only placing is limited


def test_the_counts_live_in_orders_own_namespace(client: FlaskClient, sandbox: Sandbox) -> None:
    place(client, SHOPPER)

    keys = list(redis_db(REDIS_DB["orders"]).scan_iter(f"{sandbox.redis_prefix}*ratelimit*"))

    assert keys
    assert all(key.decode().startswith(f"{sandbox.redis_prefix}orders:ratelimit") for key in keys)
