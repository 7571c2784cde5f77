"""The definitions the compose broker boots with (`python -m infra.export_definitions`): the
topology the services rely on, and each service's user with exactly the privileges of
infra/privileges.py, passwords from the secrets."""

from __future__ import annotations

import base64
import hashlib

import pytest

from infra import privileges
from infra.export_definitions import definitions, password_hash
from infra.stack import SUBSCRIPTIONS, MissingPassword
from shared.contract import EVENT_TYPES

SECRETS = {
    "RABBITMQ_ADMIN_PASSWORD": "admin-secret",
    **{f"{service.upper()}_AMQP_PASSWORD": f"{service}-secret" for service in privileges.SERVICES},
}


def _verifies(password_hash_b64: str, password: str) -> bool:
    raw = base64.b64decode(password_hash_b64)
    salt, digest = raw[:4], raw[4:]
    return hashlib.sha256(salt + password.encode()).digest() == digest


def test_each_core_service_queue_is_bound_to_the_events_it_consumes() -> None:
    bindings = {(b["destination"], b["routing_key"]) for b in definitions(SECRETS)["bindings"]}
    for service, event_types in SUBSCRIPTIONS.items():
        assert set(event_types) <= set(EVENT_TYPES), service
        assert {(service, t) for t in event_types} <= bindings


def test_one_user_per_service_and_an_administrator_each_with_its_own_password_and_a_random_salt() -> None:
    users = {u["name"]: u for u in definitions(SECRETS)["users"]}
    again = {u["name"]: u for u in definitions(SECRETS)["users"]}

    assert set(users) == {privileges.ADMIN, *privileges.SERVICES}
    assert "guest" not in users
    assert users[privileges.ADMIN]["tags"] == ["administrator"]
    assert _verifies(users[privileges.ADMIN]["password_hash"], "admin-secret")
    for service in privileges.SERVICES:
        assert _verifies(users[service]["password_hash"], f"{service}-secret")
        assert users[service]["password_hash"] != again[service]["password_hash"], "salts must differ"
    assert password_hash("x", salt=b"salt") == password_hash("x", salt=b"salt")


def test_each_service_has_exactly_the_privileges_infra_declares_for_it() -> None:
    exported = definitions(SECRETS)
    permissions = {p["user"]: p for p in exported["permissions"]}
    for service in privileges.SERVICES:
        expected = vars(privileges.broker_permissions(service))
        assert {k: permissions[service][k] for k in expected} == expected
        topics = [
            {k: v for k, v in t.items() if k not in ("user", "vhost")}
            for t in exported["topic_permissions"]
            if t["user"] == service
        ]
        assert topics == [vars(t) for t in privileges.topic_permissions(service)]
    events = {t["user"]: t["write"] for t in exported["topic_permissions"] if t["exchange"] == "shop.events"}
    assert events["dashboard"] == events["loyalty"] == "^$", "observers publish no event"


def test_a_missing_password_is_named() -> None:
    without = {k: v for k, v in SECRETS.items() if k != "PAYMENTS_AMQP_PASSWORD"}
    with pytest.raises(MissingPassword, match="PAYMENTS_AMQP_PASSWORD"):
        definitions(without)
