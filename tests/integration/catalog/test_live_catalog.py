"""The catalog against the real broker, in a sandbox: a subscriber that starts later (a queue
declared as loyalty's consumer declares it, bound to `shop.events`) appears in /asyncapi.json
as a receiver, with nothing else changed; the dashboard reads it as its own broker user."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from flask.testing import FlaskClient

from harness.sandbox import Sandbox
from harness.waiting import wait_until
from infra.stack import core_topology
from services.dashboard.app import create_app
from services.loyalty.bootstrap import HANDLERS as LOYALTY_HANDLERS
from services.loyalty.consumer import declare_own_queue
from shared import topology

SCHEMA = Path(__file__).parents[2] / "unit" / "catalog" / "asyncapi-3.0.0-schema.json"


@pytest.fixture
def dashboard(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    """The dashboard's web app as its own user on the sandbox, the core topology declared."""
    topology.apply(sandbox.amqp_url, core_topology())
    monkeypatch.setenv("AMQP_URL", sandbox.amqp_url_for("dashboard"))
    user, password = sandbox.user("dashboard"), sandbox.password("dashboard")
    return create_app({"MANAGEMENT_URL": f"http://{user}:{password}@127.0.0.1:15672"}).test_client()


def operations(client: FlaskClient) -> dict:
    return client.get("/asyncapi.json").get_json()["operations"]


def test_a_subscriber_bound_later_appears_as_a_receiver(sandbox: Sandbox, dashboard: FlaskClient) -> None:
    before = operations(dashboard)
    assert not [name for name in before if name.startswith("loyalty.")]

    declare_own_queue(sandbox.amqp_url, list(LOYALTY_HANDLERS))

    wanted = {f"loyalty.receive.{event_type}" for event_type in LOYALTY_HANDLERS}
    wait_until(lambda: wanted <= set(operations(dashboard)), 10, 0.2, "loyalty's operations")
    after = operations(dashboard)
    assert {name for name in after if name.startswith("loyalty.")} == wanted
    receive = after["loyalty.receive.order.confirmed"]
    assert receive["bindings"]["amqp"]["x-binding-key"] == "order.confirmed"
    assert set(after) - wanted == set(before)  # nothing else moved
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(dashboard.get("/asyncapi.json").get_json(), schema, cls=jsonschema.Draft7Validator)


def test_the_page_shows_the_new_subscriber_with_its_queue(sandbox: Sandbox, dashboard: FlaskClient) -> None:
    declare_own_queue(sandbox.amqp_url, list(LOYALTY_HANDLERS))

    catalog_page = lambda: dashboard.get("/catalog").get_data(as_text=True)  # noqa: E731
    wait_until(lambda: 'data-service="loyalty"' in catalog_page(), 10, 0.2, "loyalty on the page")
    page = catalog_page()
    assert 'data-testid="broker-problem"' not in page
    assert "0 consumers · 0 waiting" in page  # its queue's figures, from the management API
