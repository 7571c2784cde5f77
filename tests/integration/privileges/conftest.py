"""The shop's users in a sandbox, each connected as itself, with the topology infra declares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pika
import pytest

from harness.sandbox import Sandbox
from infra.stack import core_topology
from shared import topology


@pytest.fixture
def shop_topology(sandbox: Sandbox) -> Sandbox:
    """What `make dev` declares as the administrator, plus the queues of the dashboard and
    loyalty (their consumers declare them)."""
    topology.apply(
        sandbox.amqp_url,
        core_topology()
        + topology.service_topology("dashboard", ["#"])
        + topology.service_topology("loyalty", ["order.placed"]),
    )
    return sandbox


@pytest.fixture
def as_user(shop_topology: Sandbox) -> Iterator[Callable[[str], Any]]:
    """A confirm-mode channel of a service's own user; every connection closed at teardown."""
    connections: list[pika.BlockingConnection] = []

    def channel(service: str) -> Any:
        connection = pika.BlockingConnection(pika.URLParameters(shop_topology.amqp_url_for(service)))
        connections.append(connection)
        opened = connection.channel()
        opened.confirm_delivery()
        return opened

    yield channel
    for connection in connections:
        if connection.is_open:
            connection.close()
