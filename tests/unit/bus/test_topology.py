"""Topology as data: what each service declares, its definitions export, retrying declares."""

from __future__ import annotations

import json
from typing import Any

import pika.exceptions
import pytest

from shared import topology
from shared.topology import Binding, Exchange, Queue


def objects_named(topo: topology.Topology, name: str) -> list[Any]:
    return [o for o in topo if getattr(o, "name", None) == name]


def test_a_service_gets_a_quorum_queue_with_a_delivery_limit_and_its_dlq():
    topo = topology.service_topology("payments", ["order.placed"])

    [queue] = objects_named(topo, "payments")
    assert queue.arguments["x-queue-type"] == "quorum"
    assert queue.arguments["x-delivery-limit"] == topology.DELIVERY_LIMIT
    assert queue.arguments["x-dead-letter-exchange"] == topology.DEAD_LETTER_EXCHANGE
    [dlq] = objects_named(topo, "payments.dlq")
    assert dlq.arguments == {"x-queue-type": "classic"}
    assert Binding(topology.DEAD_LETTER_EXCHANGE, "payments.dlq", "payments") in topo


def test_the_service_queue_is_bound_to_exactly_the_event_types_it_handles():
    topo = topology.service_topology("orders", ["payment.declined", "payment.authorized", "payment.declined"])

    keys = [o.routing_key for o in topo if isinstance(o, Binding) and o.queue == "orders"]
    assert keys == ["payment.authorized", "payment.declined"]


def test_retry_queues_hold_a_message_for_their_delay_then_return_it_to_the_service_queue():
    topo = topology.service_topology("payments", ["order.placed"])

    for delay in topology.RETRY_DELAYS_S:
        [queue] = objects_named(topo, f"payments.retry.{delay}s")
        assert queue.arguments["x-queue-type"] == "quorum"
        assert queue.arguments["x-message-ttl"] == delay * 1000
        assert queue.arguments["x-dead-letter-exchange"] == ""
        assert queue.arguments["x-dead-letter-routing-key"] == "payments"


def test_every_queue_states_its_type_explicitly_so_3_10_and_4_x_agree():
    topo = topology.service_topology("dashboard", ["order.placed"])

    queues = [o for o in topo if isinstance(o, Queue)]
    assert all("x-queue-type" in q.arguments for q in queues)
    [log] = objects_named(topo, topology.EVENT_LOG)
    assert log.arguments["x-queue-type"] == "stream"
    assert log.arguments["x-max-age"] and log.arguments["x-max-length-bytes"]
    assert Binding(topology.EVENTS_EXCHANGE, topology.EVENT_LOG, "#") in topo


def test_definitions_export_every_object_once_for_the_broker_to_load_at_boot():
    topo = topology.service_topology("payments", ["order.placed"]) + topology.service_topology(
        "orders", ["payment.authorized"]
    )

    definitions = json.loads(json.dumps(topology.to_definitions(topo, vhost="/")))

    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert exchanges[topology.EVENTS_EXCHANGE]["type"] == "topic"
    assert exchanges[topology.DEAD_LETTER_EXCHANGE]["type"] == "direct"
    queue_names = [q["name"] for q in definitions["queues"]]
    assert len(queue_names) == len(set(queue_names))
    assert {"payments", "orders", "payments.dlq", "orders.dlq", topology.EVENT_LOG} <= set(queue_names)
    assert all(q["durable"] and q["vhost"] == "/" for q in definitions["queues"])
    log_bindings = [b for b in definitions["bindings"] if b["destination"] == topology.EVENT_LOG]
    assert len(log_bindings) == 1


class FakeChannel:
    """Records declarations; fails the first `failures` declarations with a channel error."""

    def __init__(self, log: list[str], failures: list[int]) -> None:
        self.log = log
        self.failures = failures
        self.closed = False

    def _maybe_fail(self) -> None:
        if self.failures:
            raise pika.exceptions.ChannelClosedByBroker(self.failures.pop(0), "simulated")

    def exchange_declare(self, name: str, **_: Any) -> None:
        self._maybe_fail()
        self.log.append(f"exchange {name}")

    def queue_declare(self, name: str, **_: Any) -> None:
        self._maybe_fail()
        self.log.append(f"queue {name}")

    def queue_bind(self, queue: str, exchange: str, routing_key: str) -> None:
        self.log.append(f"bind {exchange} {routing_key} {queue}")

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(self, failures: list[int]) -> None:
        self.log: list[str] = []
        self.failures = failures
        self.channels: list[FakeChannel] = []

    def channel(self) -> FakeChannel:
        self.channels.append(FakeChannel(self.log, self.failures))
        return self.channels[-1]


def test_declare_applies_exchanges_then_queues_then_bindings():
    connection = FakeConnection(failures=[])
    topo: topology.Topology = [Exchange("x", "topic"), Queue("q"), Binding("x", "q", "a.b")]

    topology.declare_on(connection, topo)

    assert connection.log == ["exchange x", "queue q", "bind x a.b q"]
    assert connection.channels[0].closed


def test_a_transient_channel_error_is_retried_on_a_fresh_channel():
    connection = FakeConnection(failures=[541])

    topology.declare_on(connection, topology.shared_topology(), first_delay_s=0)

    assert len(connection.channels) == 2
    assert f"queue {topology.EVENT_LOG}" in connection.log


@pytest.mark.parametrize("code", [403, 406])
def test_a_definition_conflict_fails_at_once(code: int):
    connection = FakeConnection(failures=[code])

    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        topology.declare_on(connection, topology.shared_topology(), first_delay_s=0)
    assert len(connection.channels) == 1
