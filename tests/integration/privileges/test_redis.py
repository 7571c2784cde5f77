"""Each service's Redis user reaches its own key namespace only, and no dangerous command.

Real Redis, the ACL users of infra/privileges.py as the sandbox grants them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.exceptions
from redis import Redis

from harness.sandbox import Sandbox
from infra.privileges import SERVICES

OTHER = {service: next(s for s in ("payments", "orders") if s != service) for service in SERVICES}


@pytest.fixture
def client_of(sandbox: Sandbox) -> Iterator:
    clients: list[Redis] = []

    def client(service: str) -> Redis:
        clients.append(Redis.from_url(sandbox.redis_url_for(service), decode_responses=True))
        return clients[-1]

    yield client
    for opened in clients:
        opened.close()


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_uses_its_own_keys_with_the_commands_the_shop_needs(
    service: str, client_of, sandbox: Sandbox
) -> None:
    own = client_of(service)
    key = f"{sandbox.redis_prefix}{service}:k"
    own.set(key, 1)
    assert own.eval("return redis.call('INCR', KEYS[1])", 1, key) == 2
    with own.pipeline() as tx:
        tx.watch(key)
        tx.multi()
        tx.xadd(f"{key}:stream", {"a": 1})
        tx.execute()
    assert own.xread({f"{key}:stream": 0}, count=1)
    assert list(own.scan_iter(f"{sandbox.redis_prefix}{service}:*")) != []


@pytest.mark.parametrize("service", SERVICES)
def test_another_service_s_keys_cannot_be_read_written_or_reached_by_a_script(
    service: str, client_of, sandbox: Sandbox
) -> None:
    other_key = f"{sandbox.redis_prefix}{OTHER[service]}:k"
    client_of(OTHER[service]).set(other_key, "theirs")
    own = client_of(service)
    for action in (
        lambda: own.get(other_key),
        lambda: own.set(other_key, "mine"),
        lambda: own.delete(other_key),
        lambda: own.eval("return redis.call('GET', KEYS[1])", 1, other_key),
        lambda: own.get(f"{OTHER[service]}:k"),  # the shop's own namespace, outside this run's
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            action()
    assert client_of(OTHER[service]).get(other_key) == "theirs"


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    "command",
    [("FLUSHDB",), ("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "*"), ("ACL", "LIST"), ("SAVE",)],
    ids=lambda command: command[0],
)
def test_no_service_may_flush_list_or_reconfigure(service: str, command: tuple[str, ...], client_of) -> None:
    with pytest.raises(redis.exceptions.NoPermissionError):
        client_of(service).execute_command(*command)


def test_a_run_s_users_are_gone_after_it(sandbox: Sandbox) -> None:
    admin = Redis.from_url("redis://127.0.0.1:6379/0", decode_responses=True)
    try:
        assert {sandbox.user(s) for s in SERVICES} <= set(admin.acl_users())
    finally:
        admin.close()
