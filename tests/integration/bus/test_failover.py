"""A cluster's node that is down is skipped within seconds: with AMQP_URL listing a dead address
(a closed local port) and the real broker, in either order, every kind of client gets through."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from celery.contrib.testing.worker import start_worker

from harness.sandbox import Sandbox, rabbitmqctl
from harness.waiting import wait_until
from infra.stack import core_topology
from shared import broker, celery_app, topology
from shared.publisher import Publisher, PublishError
from shared.tasks import IdTask
from tests.integration.bus.conftest import SERVICE, Broker, order_placed

DEAD = "amqp://guest:guest@127.0.0.1:1/%2F"  # nothing listens on port 1: connection refused


def in_listed_order(urls: list[str]) -> list[str]:
    return urls


@pytest.fixture(autouse=True)
def listed_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients start at a random node; here at the first listed, so the dead one is tried first
    when it is listed first."""
    monkeypatch.setattr(broker, "spread", in_listed_order)
    monkeypatch.setattr(celery_app, "spread", in_listed_order)


ORDERS: dict[str, Callable[[str], str]] = {
    "dead-first": lambda real: f"{DEAD};{real}",
    "dead-last": lambda real: f"{real};{DEAD}",
}


@pytest.fixture(params=ORDERS)
def listed(request: pytest.FixtureRequest) -> Callable[[str], str]:
    return ORDERS[request.param]


def test_a_blocking_connection_reaches_the_live_node(sandbox: Sandbox, listed: Callable[[str], str]) -> None:
    started = time.monotonic()

    connection = broker.blocking_connection(listed(sandbox.amqp_url), name="failover-test")
    try:
        connection.channel().exchange_declare(topology.EVENTS_EXCHANGE, passive=True)
    finally:
        connection.close()

    assert time.monotonic() - started < 5


@pytest.fixture
def bus(sandbox: Sandbox) -> Broker:
    bus = Broker(sandbox.amqp_url)
    bus.declare()
    return bus


@pytest.fixture
def publisher(sandbox: Sandbox, listed: Callable[[str], str]) -> Iterator[Publisher]:
    """A publisher given the node list, the dead node first."""
    publisher = Publisher(listed(sandbox.amqp_url), name="failover-test")
    yield publisher
    publisher.close()


def test_the_publisher_reaches_the_live_node_and_gets_its_confirm(bus: Broker, publisher: Publisher) -> None:
    publisher.publish(order_placed(), timeout=5)

    assert bus.depth(SERVICE) == 1


def test_a_publisher_that_loses_its_node_moves_on_past_the_dead_one_and_gets_through(
    sandbox: Sandbox, bus: Broker, publisher: Publisher
) -> None:
    publisher.publish(order_placed(), timeout=5)
    # vhost-scoped: the broker is shared with other test runs
    rabbitmqctl("close_all_connections", "--vhost", sandbox.vhost, "test: the node goes away")
    publisher.publish(order_placed(), timeout=5)

    assert bus.depth(SERVICE) == 2


def test_a_task_a_consumer_sends_runs_on_a_worker_through_the_live_node(
    sandbox: Sandbox, listed: Callable[[str], str], publisher: Publisher
) -> None:
    topology.apply(sandbox.amqp_url, core_topology())
    settings = sandbox.settings_for("payments")
    # "shuffle" may draw the dead node again (and the worker sleeps 2 s, 4 s... after each round):
    # round-robin makes the worker's one switch land on the live node, as it does within seconds
    app = celery_app.celery_app(
        settings.model_copy(update={"amqp_url": listed(settings.amqp_url)}),
        broker_failover_strategy="round-robin",
    )
    ran: list[str] = []

    @app.task(name="tests.failover_noted", shared=False)
    def noted(order_id: str) -> None:
        ran.append(order_id)

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=5):
        IdTask(noted.name, "noted", noted).sent_by(publisher)("o-1")
        wait_until(lambda: ran == ["o-1"], 8, what="the task to run")


def test_a_task_no_node_confirms_is_a_publish_error_for_the_consumer_to_retry(sandbox: Sandbox) -> None:
    app = celery_app.celery_app(sandbox.settings_for("payments"))

    @app.task(name="tests.failover_never_sent", shared=False)
    def never_sent(order_id: str) -> None:
        raise AssertionError(f"{order_id} was never sent")

    nowhere = Publisher(f"{DEAD};amqp://guest:guest@127.0.0.1:2/%2F", name="failover-test")
    try:
        with pytest.raises(PublishError, match="no confirm within"):
            IdTask(never_sent.name, "never", never_sent).sent_by(nowhere)("o-1")
    finally:
        nowhere.close(timeout=0.1)
