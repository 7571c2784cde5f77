"""Test runs clean up after themselves: a sandbox leaves no vhost and no keys behind."""

from __future__ import annotations

import uuid

from harness.sandbox import create_sandbox, destroy_sandbox, rabbitmqctl, redis_db
from infra.privileges import SERVICES
from infra.stack import REDIS_DB


def test_destroying_a_sandbox_removes_its_vhost_and_its_keys_in_every_service_database() -> None:
    sandbox = create_sandbox("clean")
    databases = {0, *REDIS_DB.values()}
    clients = {db: redis_db(db) for db in databases}
    neighbour = f"neighbour-{uuid.uuid4().hex[:8]}:o-1"  # another run's key
    for client in clients.values():
        client.set(f"{sandbox.redis_prefix}orders:o-1", "x")
        client.set(neighbour, "kept", ex=60)

    destroy_sandbox(sandbox)

    assert sandbox.vhost not in rabbitmqctl("list_vhosts").split()
    for db, client in clients.items():
        assert list(client.scan_iter(f"{sandbox.redis_prefix}*")) == [], db
        assert client.get(neighbour) == b"kept", db
        client.delete(neighbour)


def test_destroying_a_sandbox_removes_its_broker_and_redis_users() -> None:
    sandbox = create_sandbox("clean")
    sandbox.grant("bustest")
    users = {sandbox.user(service) for service in (*SERVICES, "bustest")}
    assert users <= set(rabbitmqctl("list_users").split())

    destroy_sandbox(sandbox)

    assert not users & set(rabbitmqctl("list_users").split())
    assert not users & set(redis_db(0).acl_users())
