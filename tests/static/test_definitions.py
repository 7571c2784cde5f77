"""infra/rabbitmq/definitions.json is what `python -m infra.export_definitions` writes today."""

from __future__ import annotations

from infra.export_definitions import DEFINITIONS, definitions, password_hash, render
from infra.stack import REDIS_DB, SUBSCRIPTIONS
from shared.contract import EVENT_TYPES


def test_the_committed_definitions_are_up_to_date_with_the_topology():
    assert DEFINITIONS.read_text() == render({}), (
        "infra/rabbitmq/definitions.json is stale: run `python -m infra.export_definitions`"
        " (without a .env, so it holds the default passwords)"
    )


def test_each_core_service_queue_is_bound_to_the_events_it_consumes():
    bindings = {(b["destination"], b["routing_key"]) for b in definitions({})["bindings"]}
    for service, event_types in SUBSCRIPTIONS.items():
        assert set(event_types) <= set(EVENT_TYPES), service
        assert {(service, t) for t in event_types} <= bindings


def test_one_user_per_service_and_an_administrator_with_passwords_from_the_environment():
    users = {u["name"]: u for u in definitions({"PAYMENTS_AMQP_PASSWORD": "s3cret"})["users"]}
    defaults = {u["name"]: u for u in definitions({})["users"]}
    assert set(users) == {"admin", *REDIS_DB}
    assert users["admin"]["tags"] == ["administrator"]
    assert users["payments"]["password_hash"] == password_hash("payments", "s3cret")
    assert defaults["payments"]["password_hash"] == password_hash("payments", "payments")
    permissions = {p["user"] for p in definitions({})["permissions"]}
    assert permissions == set(users)
