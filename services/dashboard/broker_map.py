"""The live architecture map, discovered from the broker at run time.

Nothing here lists the services: a subscriber is a queue bound to `shop.events`, its
processes are the connections consuming its queues (our processes name their connections
`<service>-<process>`, e.g. `payments-consumer`; a Celery worker is whatever consumes
`<service>.tasks`), and a producer is a service whose events were seen recently or
that holds a connection which only publishes (an outbox relay, a worker's publisher). So a
new subscriber appears by itself, and a stopped one shows zero consumers while its queue
grows. The broker's management HTTP API answers; `build_map` is pure, for tests.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pika
import requests

from shared.broker import broker_urls
from shared.topology import EVENT_LOG, EVENTS_EXCHANGE

TASKS_SUFFIX = ".tasks"
DLQ_SUFFIX = ".dlq"
RETRY_QUEUE = re.compile(r"^(?P<service>.+)\.retry\.\d+s$")


class ManagementUnavailable(RuntimeError):
    """The management API did not answer: is the rabbitmq_management plugin enabled?"""


@dataclass(frozen=True)
class BrokerState:
    queues: list[dict[str, Any]]
    consumers: list[dict[str, Any]]
    connections: list[dict[str, Any]]
    bindings: list[dict[str, Any]]
    exchange: dict[str, Any]


class Management:
    """A small client of RabbitMQ's management API, scoped to the vhost of AMQP_URL.

    `management_url` may list a cluster's nodes separated by `;` (each node's API reports the
    whole cluster): when the one in use does not answer, the next is asked, and the one that
    answered is kept for the calls after."""

    def __init__(self, management_url: str, amqp_url: str, timeout_s: float = 3.0) -> None:
        self._bases = [url.rstrip("/") + "/api" for url in broker_urls(management_url)]
        self._current = 0  # index of the node that answered last
        self._vhost = quote(pika.URLParameters(broker_urls(amqp_url)[0]).virtual_host, safe="")
        self._timeout_s = timeout_s
        self._session = requests.Session()

    def state(self) -> BrokerState:
        exchange = quote(EVENTS_EXCHANGE, safe="")
        return BrokerState(
            queues=self._get(f"/queues/{self._vhost}"),
            consumers=self._get(f"/consumers/{self._vhost}"),
            connections=self._get(f"/vhosts/{self._vhost}/connections"),
            bindings=self._get(f"/exchanges/{self._vhost}/{exchange}/bindings/source", missing=[]),
            exchange=self._get(f"/exchanges/{self._vhost}/{exchange}", missing={}),
        )

    def _get(self, path: str, missing: Any = None) -> Any:
        response = self._answer(path)
        if response.status_code == 404 and missing is not None:
            return missing  # the exchange is declared by the first service that starts
        if response.status_code != 200:
            raise ManagementUnavailable(f"GET {path}: HTTP {response.status_code}")
        return response.json()

    def _answer(self, path: str) -> requests.Response:
        """The response of the first node that answers, starting with the one that answered last."""
        first = self._current
        errors = []
        for step in range(len(self._bases)):
            node = (first + step) % len(self._bases)
            try:
                response = self._session.get(self._bases[node] + path, timeout=self._timeout_s)
            except requests.RequestException as exc:  # no answer: refused, timed out, cut off
                errors.append(str(exc))
                continue
            self._current = node
            return response
        raise ManagementUnavailable("; ".join(errors))


def _rate(stats: dict[str, Any] | None, name: str) -> float:
    return round(float(((stats or {}).get(f"{name}_details") or {}).get("rate", 0.0)), 2)


def connection_label(connection: dict[str, Any]) -> str:
    """The name a process gave its connection (client property `connection_name`), if any."""
    properties = connection.get("client_properties") or {}
    return str(properties.get("connection_name") or connection.get("user_provided_name") or "")


def split_label(label: str) -> tuple[str, str] | None:
    """`payments-consumer` → ("payments", "consumer"); unnamed or unstructured → None."""
    service, dash, process = label.rpartition("-")
    return (service, process) if dash and service and process else None


def build_map(state: BrokerState, publish_rates: dict[str, float]) -> dict[str, Any]:
    queues = {q["name"]: q for q in state.queues}
    labels = {c["name"]: connection_label(c) for c in state.connections}
    subscribed = sorted(
        {
            b["destination"]
            for b in state.bindings
            if b.get("destination_type") == "queue" and b["destination"] != EVENT_LOG
        }
    )
    binding_keys: dict[str, list[str]] = defaultdict(list)
    for b in state.bindings:
        binding_keys[b["destination"]].append(b["routing_key"])
    consuming: dict[str, set[str]] = defaultdict(set)  # queue -> connection names
    for consumer in state.consumers:
        connection = (consumer.get("channel_details") or {}).get("connection_name")
        if connection:
            consuming[consumer["queue"]["name"]].add(connection)
    retrying: dict[str, int] = defaultdict(int)
    for name, queue in queues.items():
        match = RETRY_QUEUE.match(name)
        if match:
            retrying[match["service"]] += int(queue.get("messages") or 0)

    subscribers = [
        _subscriber(
            service,
            queues.get(service, {}),
            queues.get(service + TASKS_SUFFIX),
            queues.get(service + DLQ_SUFFIX, {}),
            sorted(binding_keys[service]),
            retrying[service],
            _processes(service, consuming, labels),
        )
        for service in subscribed
    ]
    consuming_any = set().union(*consuming.values())
    producer_names = set(publish_rates) | {
        parts[0]
        for connection, label in labels.items()
        if connection not in consuming_any and (parts := split_label(label)) and parts[1] != "dead-letters"
    }
    producers = [
        {
            "service": name,
            "rate": publish_rates.get(name, 0.0),
            "processes": _processes(name, consuming, labels),
        }
        for name in sorted(producer_names)
    ]
    log = queues.get(EVENT_LOG, {})
    return {
        "exchange": {
            "name": EVENTS_EXCHANGE,
            "rate_in": _rate(state.exchange.get("message_stats"), "publish_in"),
            "exists": bool(state.exchange),
        },
        "log": {"name": EVENT_LOG, "messages": int(log.get("messages") or 0), "exists": bool(log)},
        "producers": producers,
        "subscribers": subscribers,
    }


def _processes(service: str, consuming: dict[str, set[str]], labels: dict[str, str]) -> list[dict[str, Any]]:
    """Replicas per process type of a service.

    A process that consumes is counted by its consuming connection: one per replica, even
    when it holds more connections (each child of a Celery prefork pool opens its own
    publisher). Processes that only publish (a relay) are counted by their named connections.
    """
    kinds: dict[str, set[str]] = defaultdict(set)
    for connection in consuming.get(service, set()):
        parts = split_label(labels.get(connection, ""))
        kinds[parts[1] if parts and parts[0] == service else "consumer"].add(connection)
    kinds["worker"] |= consuming.get(service + TASKS_SUFFIX, set())
    counted_by_consumers = {kind for kind, connections in kinds.items() if connections}
    for connection, label in labels.items():
        parts = split_label(label)
        if parts and parts[0] == service and parts[1] not in counted_by_consumers | {"dead-letters"}:
            kinds[parts[1]].add(connection)
    return [{"name": kind, "replicas": len(kinds[kind])} for kind in sorted(kinds) if kinds[kind]]


def _subscriber(
    service: str,
    queue: dict[str, Any],
    tasks: dict[str, Any] | None,
    dlq: dict[str, Any],
    bindings: list[str],
    retrying: int,
    processes: list[dict[str, Any]],
) -> dict[str, Any]:
    consumers = int(queue.get("consumers") or 0)
    task_consumers = int(tasks.get("consumers") or 0) if tasks else None
    if consumers == 0:
        status = "down"
    elif task_consumers == 0:
        status = "degraded"  # events are taken in, but nothing executes the work they cause
    else:
        status = "up"
    stats = queue.get("message_stats")
    return {
        "service": service,
        "status": status,
        "bindings": bindings,
        "queue": {
            "name": service,
            "depth": int(queue.get("messages") or 0),
            "unacked": int(queue.get("messages_unacknowledged") or 0),
            "consumers": consumers,
            "rate_in": _rate(stats, "publish"),
            "rate_out": _rate(stats, "ack"),
        },
        "tasks": None
        if tasks is None
        else {
            "name": service + TASKS_SUFFIX,
            "depth": int(tasks.get("messages") or 0),
            "consumers": task_consumers,
        },
        "retrying": retrying,
        "dead_letters": int(dlq.get("messages") or 0),
        "processes": processes,
    }
