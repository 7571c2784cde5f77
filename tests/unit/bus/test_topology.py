"""Topology as data: what each service declares, its definitions export, retrying declares."""

from __future__ import annotations

import json
from typing import Any

import pika.exceptions
import pytest

from shared import topology
from shared.topology import Binding, Exchange, ExchangeBinding, Queue


def objects_named(topo: topology.Topology, name: str) -> list[Any]:
    return [o for o in topo if getattr(o, "name", None) == name]


def test_a_service_gets_a_quorum_queue_with_a_delivery_limit_and_its_dlq():
    topo = topology.service_topology("payments", ["order.placed"])

    [queue] = objects_named(topo, "payments")
    assert queue.arguments["x-queue-type"] == "quorum"
    assert queue.arguments["x-delivery-limit"] == topology.DELIVERY_LIMIT
    assert queue.arguments["x-dead-letter-exchange"] == topology.DEAD_LETTER_EXCHANGE
    [dlq] = objects_named(topo, "payments.dlq")
    # replayed by rejecting: back through the service's own exchange, by routing key
    assert dlq.arguments == {"x-queue-type": "classic", "x-dead-letter-exchange": "payments.retry"}
    assert Binding(topology.DEAD_LETTER_EXCHANGE, "payments.dlq", "payments") in topo
    assert Binding("payments.retry", "payments", "payments") in topo


def test_the_service_queue_is_bound_to_exactly_the_event_types_it_handles():
    topo = topology.service_topology("orders", ["payment.declined", "payment.authorized", "payment.declined"])

    keys = [
        o.routing_key
        for o in topo
        if isinstance(o, Binding) and o.queue == "orders" and o.exchange == "shop.events"
    ]
    assert keys == ["payment.authorized", "payment.declined"]


def test_retry_queues_hold_a_message_for_their_delay_then_return_it_to_the_service_queue():
    """Through the service's own exchange, never the default one (which reaches every queue)."""
    topo = topology.service_topology("payments", ["order.placed"])

    for delay in topology.RETRY_DELAYS_S:
        [queue] = objects_named(topo, f"payments.retry.{delay}s")
        assert queue.arguments["x-queue-type"] == "quorum"
        assert queue.arguments["x-message-ttl"] == delay * 1000
        assert queue.arguments["x-dead-letter-exchange"] == "payments.retry"
        assert queue.arguments["x-dead-letter-routing-key"] == "payments"
        assert Binding("payments.retry", queue.name, queue.name) in topo
    assert all(getattr(o, "arguments", {}).get("x-dead-letter-exchange") != "" for o in topo)


def test_a_service_only_checks_the_shared_objects_which_infra_declares():
    topo = topology.service_topology("payments", ["order.placed"])

    shared = [o for o in topo if getattr(o, "name", None) in ("shop.events", "shop.dlx", topology.EVENT_LOG)]
    assert shared and all(o.passive for o in shared)
    assert Binding(topology.EVENTS_EXCHANGE, topology.EVENT_LOG, "#") not in topo


def test_every_queue_states_its_type_explicitly_so_3_10_and_4_x_agree():
    topo = topology.shared_topology() + topology.service_topology("dashboard", ["order.placed"])

    queues = [o for o in topo if isinstance(o, Queue) and not o.passive]
    assert all("x-queue-type" in q.arguments for q in queues)
    [log] = objects_named(queues, topology.EVENT_LOG)
    assert log.arguments["x-queue-type"] == "stream"
    assert log.arguments["x-max-age"] and log.arguments["x-max-length-bytes"]
    assert Binding(topology.EVENTS_EXCHANGE, topology.EVENT_LOG, "#") in topo


def test_definitions_export_every_object_once_for_the_broker_to_load_at_boot():
    topo = (
        topology.shared_topology()
        + topology.service_topology("payments", ["order.placed"])
        + topology.service_topology("orders", ["payment.authorized"])
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


def test_flower_reaches_a_celery_service_through_exchange_to_exchange_bindings():
    topo = topology.celery_monitor_topology("payments")

    # Flower's broadcasts (enable_events) go on to the service's pidbox; its workers' task
    # events go on to the exchange Flower listens to, whatever their routing key
    assert ExchangeBinding("celery.pidbox", "payments.pidbox", "") in topo
    assert ExchangeBinding("payments.celeryev", "celeryev", "#") in topo
    exchanges = {o.name: (o.type, o.durable) for o in topo if isinstance(o, Exchange)}
    assert exchanges == {
        "celery.pidbox": ("fanout", False),
        "payments.pidbox": ("fanout", False),
        "celeryev": ("topic", True),
        "payments.celeryev": ("topic", True),
    }


def test_the_monitor_exchanges_are_declared_exactly_as_kombu_and_celery_declare_them():
    """Any other type or durability, and the workers or Flower fail with PRECONDITION_FAILED."""
    from celery import Celery
    from celery.events.event import get_exchange
    from kombu import Connection

    declared = {o.name: o for o in topology.celery_monitor_topology("payments") if isinstance(o, Exchange)}
    for namespace in ("celery", "payments"):
        app = Celery(namespace, broker="amqp://", set_as_current=False)
        app.conf.control_exchange = namespace
        kombu_exchange = app.control.mailbox._get_exchange(namespace, "fanout")
        ours = declared[kombu_exchange.name]
        assert (ours.type, ours.durable) == (kombu_exchange.type, kombu_exchange.durable) == ("fanout", False)
        assert not kombu_exchange.auto_delete and not kombu_exchange.arguments
    for name in ("celeryev", "payments.celeryev"):
        celery_exchange = get_exchange(Connection("amqp://"), name)
        ours = declared[name]
        assert (ours.type, ours.durable) == (celery_exchange.type, celery_exchange.durable)
        assert not celery_exchange.auto_delete and not celery_exchange.arguments


def test_definitions_export_exchange_bindings_and_transient_exchanges():
    definitions = topology.to_definitions(topology.celery_monitor_topology("payments"), vhost="/")

    assert {
        "source": "celery.pidbox",
        "vhost": "/",
        "destination": "payments.pidbox",
        "destination_type": "exchange",
        "routing_key": "",
        "arguments": {},
    } in definitions["bindings"]
    [events] = [b for b in definitions["bindings"] if b["source"] == "payments.celeryev"]
    assert (events["destination"], events["destination_type"], events["routing_key"]) == (
        "celeryev",
        "exchange",
        "#",
    )
    durable = {e["name"]: e["durable"] for e in definitions["exchanges"]}
    assert durable == {
        "celery.pidbox": False,
        "payments.pidbox": False,
        "celeryev": True,
        "payments.celeryev": True,
    }
    # the same shared exchange for two services is exported once
    both = topology.celery_monitor_topology("payments") + topology.celery_monitor_topology("notifications")
    names = [e["name"] for e in topology.to_definitions(both)["exchanges"]]
    assert sorted(names) == sorted(set(names)) and names.count("celery.pidbox") == 1


class FakeChannel:
    """Records declarations; fails the first `failures` declarations with a channel error."""

    def __init__(self, log: list[str], failures: list[int]) -> None:
        self.log = log
        self.failures = failures
        self.closed = False

    def _maybe_fail(self) -> None:
        if self.failures:
            raise pika.exceptions.ChannelClosedByBroker(self.failures.pop(0), "simulated")

    def exchange_declare(self, name: str, exchange_type: str, durable: bool, **_: Any) -> None:
        self._maybe_fail()
        self.log.append(f"exchange {name}" + ("" if durable else " transient"))

    def queue_declare(self, name: str, **_: Any) -> None:
        self._maybe_fail()
        self.log.append(f"queue {name}")

    def queue_bind(self, queue: str, exchange: str, routing_key: str) -> None:
        self.log.append(f"bind {exchange} {routing_key} {queue}")

    def exchange_bind(self, destination: str, source: str, routing_key: str) -> None:
        self.log.append(f"bind {source} {routing_key} exchange {destination}")

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


def test_declare_binds_an_exchange_to_an_exchange_and_keeps_a_transient_exchange_transient():
    connection = FakeConnection(failures=[])
    topo: topology.Topology = [
        Exchange("a.pidbox", "fanout", durable=False),
        Exchange("b.pidbox", "fanout", durable=False),
        ExchangeBinding("a.pidbox", "b.pidbox"),
        Exchange("b.ev", "topic"),
        ExchangeBinding("b.ev", "a.ev", "#"),
    ]

    topology.declare_on(connection, topo)

    assert connection.log == [
        "exchange a.pidbox transient",
        "exchange b.pidbox transient",
        "bind a.pidbox  exchange b.pidbox",
        "exchange b.ev",
        "bind b.ev # exchange a.ev",
    ]


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


class KombuRecorder:
    """A channel (and its connection) that keeps what kombu declares on it, in our terms."""

    def __init__(self) -> None:
        self.declared: set[Any] = set()

    def channel(self) -> KombuRecorder:
        return self

    def prepare_queue_arguments(self, arguments: dict[str, Any], **_: Any) -> dict[str, Any]:
        return arguments

    def exchange_declare(self, exchange: str, type: str, durable: bool, **_: Any) -> None:
        self.declared.add(Exchange(exchange, type, durable=durable))

    def queue_declare(self, queue: str, arguments: dict[str, Any], **_: Any) -> tuple[str, int, int]:
        self.declared.add((queue, tuple(sorted(arguments.items()))))
        return queue, 0, 0

    def queue_bind(self, queue: str, exchange: str, routing_key: str, **_: Any) -> None:
        self.declared.add(Binding(exchange, queue, routing_key))

    def exchange_bind(self, destination: str, source: str, routing_key: str, **_: Any) -> None:
        self.declared.add(ExchangeBinding(source, destination, routing_key))


def test_infra_declares_celery_s_delay_queues_exactly_as_kombu_would():
    """Celery's worker no longer declares them (shared.celery_app.TaskConsumer): infra's copy must
    be kombu's to the letter, or retries would wait the wrong time or go nowhere."""
    from kombu.transport.native_delayed_delivery import declare_native_delayed_delivery_exchanges_and_queues

    kombu = KombuRecorder()
    declare_native_delayed_delivery_exchanges_and_queues(kombu, "quorum")
    ours = {
        (o.name, tuple(sorted(o.arguments.items()))) if isinstance(o, Queue) else o
        for o in topology.celery_delayed_topology()
    }

    assert ours == kombu.declared
    assert len(ours) == 28 * 3 + 27 + 2


def test_a_task_queue_is_bound_home_from_the_delay_queues_only_for_its_own_key():
    topo = topology.task_topology("payments")

    assert ExchangeBinding("celery_delayed_delivery", "payments.tasks", "#.payments.tasks") in topo
    assert Binding("payments.tasks", "payments.tasks", "#.payments.tasks") in topo
    assert not [o for o in topo if isinstance(o, ExchangeBinding) and "notifications" in o.destination]
