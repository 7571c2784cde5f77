"""The privileges as data (infra/privileges.py), and the broker definitions made from them."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from infra import privileges
from infra.export_definitions import definitions, render
from infra.stack import MissingPassword, core_topology
from shared.contract import PUBLISHERS
from shared.topology import Exchange, Queue

SECRETS = {
    "RABBITMQ_ADMIN_PASSWORD": "admin-pw",
    **{f"{s.upper()}_AMQP_PASSWORD": f"{s}-pw" for s in privileges.SERVICES},
}


def matches(pattern: str, name: str) -> bool:
    return re.fullmatch(pattern, name) is not None


@pytest.mark.parametrize("service", privileges.SERVICES)
def test_a_service_may_configure_and_read_its_own_objects_and_no_one_else_s(service: str) -> None:
    permissions = privileges.broker_permissions(service)
    for own in (service, f"{service}.retry.1s", f"{service}.dlq", f"{service}.tasks", f"{service}.retry"):
        assert matches(permissions.configure, own) and matches(permissions.read, own)
    for other in set(privileges.SERVICES) - {service}:
        for name in (other, f"{other}.retry.5s", f"{other}.tasks", f"{other}.retry", f"h.{other}.pidbox"):
            assert not matches(permissions.configure, name), name
            assert not matches(permissions.write, name), name
        assert matches(permissions.read, f"{other}.dlq") is (service == "dashboard")
    for shared in ("shop.events", "shop.dlx", "shop.events.log"):
        assert not matches(permissions.configure, shared)
    assert not matches(permissions.write, "amq.default")  # the default exchange reaches every queue
    assert matches(permissions.read, "shop.events.log") is (service in privileges.LOG_READERS)


@pytest.mark.parametrize("service", privileges.SERVICES)
def test_on_shop_events_a_service_may_publish_exactly_the_types_the_contract_gives_it(service: str) -> None:
    [events] = [t for t in privileges.topic_permissions(service) if t.exchange == "shop.events"]
    for event_type, publisher in PUBLISHERS.items():
        assert matches(events.write, event_type) is (publisher == service), event_type
    assert not matches(events.write, "points.awarded")


@pytest.mark.parametrize("service", privileges.SERVICES)
def test_no_service_may_use_flower_s_exchanges_bound_to_the_celery_services(service: str) -> None:
    """Flower's broadcasts on `celery.pidbox` reach every Celery service's workers, and its queue
    on `celeryev` gets every service's task events: a service may neither write to the one nor
    bind a queue to the other (read), nor change either or their bindings (configure). Flower's
    replies: a Celery service's workers answer there (kombu declares it first), nobody else; and
    nobody reads them."""
    permissions = privileges.broker_permissions(service)
    for flower_s in ("celery.pidbox", "celeryev"):
        assert not matches(permissions.configure, flower_s), flower_s
        assert not matches(permissions.write, flower_s), flower_s
        assert not matches(permissions.read, flower_s), flower_s
    answers = service in privileges.CELERY_SERVICES
    assert matches(permissions.configure, "reply.celery.pidbox") is answers
    assert matches(permissions.write, "reply.celery.pidbox") is answers
    assert not matches(permissions.read, "reply.celery.pidbox")
    if service in privileges.CELERY_SERVICES:  # its workers declare and use their own
        for own in (f"{service}.pidbox", f"reply.{service}.pidbox", f"{service}.celeryev"):
            assert matches(permissions.configure, own) and matches(permissions.write, own), own
            assert matches(permissions.read, own), own


@pytest.mark.parametrize("service", privileges.CELERY_SERVICES)
def test_no_service_may_declare_read_or_delete_celery_s_shared_delay_queues(service: str) -> None:
    """Every Celery service's retries wait in the same `celery_delayed_<level>` queues: infra
    declares them; a service only publishes into them (a delay starts at the first level; a retry
    without countdown of a task back from a delay goes to the level it last left): topic
    permissions limit the key to its own task queue."""
    permissions = privileges.broker_permissions(service)
    for level in ("celery_delayed_27", "celery_delayed_3", "celery_delayed_0", "celery_delayed_delivery"):
        assert not matches(permissions.configure, level) and not matches(permissions.read, level), level
        assert matches(permissions.write, level), level


def test_the_definitions_bind_flower_s_exchanges_to_each_celery_service_s() -> None:
    exported = definitions(SECRETS)

    exchange_bindings = {
        (b["source"], b["destination"], b["routing_key"])
        for b in exported["bindings"]
        if b["destination_type"] == "exchange"
    }
    for service in privileges.CELERY_SERVICES:
        assert ("celery.pidbox", f"{service}.pidbox", "") in exchange_bindings
        assert (f"{service}.celeryev", "celeryev", "#") in exchange_bindings
    transient = {e["name"] for e in exported["exchanges"] if not e["durable"]}
    assert transient == {"celery.pidbox", *(f"{s}.pidbox" for s in privileges.CELERY_SERVICES)}


def test_celery_services_route_delayed_tasks_only_to_their_own_task_queue() -> None:
    delay = "0." * 27 + "1."
    for service in privileges.CELERY_SERVICES:
        delayed = [t for t in privileges.topic_permissions(service) if t.exchange != "shop.events"]
        assert {t.exchange for t in delayed} == {
            *(f"celery_delayed_{n}" for n in range(28)),
            "celery_delayed_delivery",
        }
        assert all(matches(t.write, f"{delay}{service}.tasks") for t in delayed)
        assert not any(matches(t.write, f"{delay}orders.tasks") for t in delayed)


def test_a_redis_rule_keeps_a_service_in_its_namespace_without_dangerous_commands() -> None:
    rule = privileges.redis_acl_rule("orders", "pw", "t-1:").split()

    assert rule[:3] == ["reset", "on", ">pw"]
    assert "~t-1:orders:*" in rule and "&t-1:orders:*" in rule and "resetchannels" in rule
    assert {"-@dangerous", "-flushall", "-flushdb", "-keys", "-config", "-debug", "-shutdown"} <= set(rule)
    assert not [word for word in rule if word.startswith("~") and word != "~t-1:orders:*"]
    assert privileges.redis_acl_line("orders", "pw", "t-1:", "t-1-").startswith("user t-1-orders reset on")


def test_the_definitions_hold_the_users_permissions_and_topic_permissions_of_the_privileges() -> None:
    exported = definitions(SECRETS)

    users = {user["name"]: user for user in exported["users"]}
    assert set(users) == {"admin", *privileges.SERVICES}
    assert users["dashboard"]["tags"] == ["monitoring"]
    stored = base64.b64decode(users["payments"]["password_hash"])
    assert hashlib.sha256(stored[:4] + b"payments-pw").digest() == stored[4:]
    permissions = {p["user"]: p for p in exported["permissions"]}
    assert permissions["orders"]["write"] == privileges.broker_permissions("orders").write
    assert permissions["admin"]["configure"] == ".*"
    topics = {(t["user"], t["exchange"]): t["write"] for t in exported["topic_permissions"]}
    assert topics[("payments", "shop.events")] == privileges.topic_permissions("payments")[0].write
    queues = {q["name"] for q in exported["queues"]}
    assert queues == {o.name for o in core_topology() if isinstance(o, Queue)}
    assert {"payments.tasks", "notifications.tasks"} <= queues
    assert {e["name"] for e in exported["exchanges"]} == {
        o.name for o in core_topology() if isinstance(o, Exchange)
    }


def test_every_export_salts_its_hashes_anew_so_the_file_is_generated_not_committed() -> None:
    first, second = json.loads(render(SECRETS)), json.loads(render(SECRETS))

    assert first["users"][1]["password_hash"] != second["users"][1]["password_hash"]


def test_a_missing_password_is_named() -> None:
    with pytest.raises(MissingPassword, match="LOYALTY_AMQP_PASSWORD"):
        definitions({k: v for k, v in SECRETS.items() if k != "LOYALTY_AMQP_PASSWORD"})
