"""Broker topology, declared once as data and applied idempotently by every process.

`shared_topology()` is what all services rely on (the event exchange, the dead-letter
exchange, the event-log stream), declared by infra as the administrator; a service only
checks it is there (passively: it may not configure it). `service_topology()` is what one
subscribing service owns: its quorum queue bound to the event types it handles, its delay
queues for retries with backoff, its dead-letter queue, and its own direct exchange
`<service>.retry`, through which it moves messages into its delay queues and through which
they, and replayed dead letters, come back: nobody needs to write to the default exchange,
which reaches every queue. `task_topology()` is a Celery service's task queue, and
`celery_delayed_topology()` the delay queues its retries wait in, both declared by infra;
`celery_monitor_topology()` lets Flower, which uses Celery's default exchanges, reach the
workers that use their service's own (exchange-to-exchange bindings).
`declare()` applies a list of objects on a pika channel; `to_definitions()` exports the same
list as RabbitMQ definitions.
Arguments are spelled out explicitly (queue type, delivery limit) so RabbitMQ 3.10
and 4.x agree, and every declaration is identical in every process, so concurrent
start-ups never disagree (no PRECONDITION_FAILED).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pika.exceptions
import tenacity
from kombu.transport.native_delayed_delivery import (
    CELERY_DELAYED_DELIVERY_EXCHANGE,
    MAX_LEVEL,
    level_name,
)

from shared.broker import blocking_connection

log = logging.getLogger(__name__)

EVENTS_EXCHANGE = "shop.events"
DEAD_LETTER_EXCHANGE = "shop.dlx"
EVENT_LOG = "shop.events.log"
RETRY_DELAYS_S = (1, 5, 25)
DELIVERY_LIMIT = 10
# A wrong definition (406) or missing rights (403) will not fix itself: fail at once.
_PERMANENT_DECLARE_ERRORS = (403, 406)
EVENT_LOG_MAX_AGE = "7D"
EVENT_LOG_MAX_BYTES = 2_000_000_000
EVENT_LOG_SEGMENT_BYTES = 50_000_000
# Celery's default remote-control (kombu pidbox, `<namespace>.pidbox`) and task-event exchanges:
# what Flower, on Celery's default configuration, broadcasts on and listens to.
CELERY_CONTROL_EXCHANGE = "celery.pidbox"
CELERY_EVENT_EXCHANGE = "celeryev"


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str
    passive: bool = False  # only checked: it belongs to infra, declared by the administrator
    # kombu declares its pidbox exchanges transient: any other flag would be a PRECONDITION_FAILED
    durable: bool = True


@dataclass(frozen=True)
class Queue:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    passive: bool = False

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class Binding:
    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True)
class ExchangeBinding:
    """An exchange-to-exchange binding: what `source` routes with `routing_key` goes on to
    `destination`, which routes it again (a fanout or topic source sees every key with `#`)."""

    source: str
    destination: str
    routing_key: str = ""


Topology = list[Exchange | Queue | Binding | ExchangeBinding]


def dead_letter_queue(service: str) -> str:
    return f"{service}.dlq"


def retry_queue(service: str, delay_s: int) -> str:
    return f"{service}.retry.{delay_s}s"


def retry_exchange(service: str) -> str:
    """The service's own direct exchange: retries go out through it, and come back (routing key
    `<service>`, or `<service>.tasks` for a replayed task) to the queue of that name."""
    return f"{service}.retry"


def task_queue(service: str) -> str:
    return f"{service}.tasks"


def shared_topology() -> Topology:
    """What infra (the administrator) declares for everyone."""
    return [
        Exchange(EVENTS_EXCHANGE, "topic"),
        Exchange(DEAD_LETTER_EXCHANGE, "direct"),
        Queue(
            EVENT_LOG,
            {
                "x-queue-type": "stream",
                "x-max-age": EVENT_LOG_MAX_AGE,
                "x-max-length-bytes": EVENT_LOG_MAX_BYTES,
                "x-stream-max-segment-size-bytes": EVENT_LOG_SEGMENT_BYTES,
            },
        ),
        Binding(EVENTS_EXCHANGE, EVENT_LOG, "#"),
    ]


def shared_topology_checked() -> Topology:
    """The shared objects as a service sees them: checked to exist (passive declarations need no
    permission), never declared; a binding cannot be checked, and is infra's anyway."""
    return [
        Exchange(o.name, o.type, passive=True) if isinstance(o, Exchange) else Queue(o.name, passive=True)
        for o in shared_topology()
        if not isinstance(o, Binding | ExchangeBinding)
    ]


def reliable_quorum(**extra: Any) -> dict[str, Any]:
    """Arguments of a quorum queue that dead-letters at-least-once (which needs reject-publish
    overflow): a dead letter leaves the queue only once its target confirmed it."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        **extra,
    }


def dead_lettering_to(service: str, routing_key: str | None = None) -> dict[str, Any]:
    """Arguments of a queue whose poison and exhausted messages end in `<service>.dlq`: the
    service's event queue, and its Celery task queue (routing key `<service>.tasks`, so that a
    replayed task goes back to the task queue)."""
    return reliable_quorum(
        **{
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": routing_key or service,
        }
    )


def task_queue_arguments(service: str) -> dict[str, Any]:
    """The Celery task queue's arguments, the same in the topology and in shared.celery_app."""
    return dead_lettering_to(service, task_queue(service))


def service_topology(service: str, event_types: list[str] | tuple[str, ...]) -> Topology:
    """The queues one subscribing service owns, bound to the event types it handles."""
    dlq, back = dead_letter_queue(service), retry_exchange(service)
    objects: Topology = [
        *shared_topology_checked(),
        Exchange(back, "direct"),
        Queue(service, dead_lettering_to(service)),
        Binding(back, service, service),
        # A parking lot, read by people (the dashboard peeks, and replays by rejecting: the
        # broker moves the message back through `<service>.retry` by its routing key, with its
        # properties, so its sender (user_id) stays the one who published it). Classic, so no
        # delivery limit (4.x gives quorum queues one by default) can ever drop a dead letter.
        Queue(dlq, {"x-queue-type": "classic", "x-dead-letter-exchange": back}),
        Binding(DEAD_LETTER_EXCHANGE, dlq, service),
    ]
    for delay in RETRY_DELAYS_S:
        name = retry_queue(service, delay)
        objects += [
            Queue(
                name,
                reliable_quorum(
                    **{
                        "x-message-ttl": delay * 1000,
                        "x-dead-letter-exchange": back,
                        "x-dead-letter-routing-key": service,
                    }
                ),
            ),
            Binding(back, name, name),
        ]
    objects += [Binding(EVENTS_EXCHANGE, service, key) for key in sorted(set(event_types))]
    return objects


def task_topology(service: str) -> Topology:
    """A Celery service's task queue as infra declares it beforehand: the queue and exchange
    Celery declares too (same arguments), the ways a dead task comes back when replayed, and
    the way back from Celery's delay queues (celery_delayed_topology): a task retried with a
    countdown is routed there by a key ending in its queue's name, `#.<service>.tasks`. Those
    last bindings are what the worker's DelayedDelivery step would make, which shared.celery_app
    leaves out: binding from `celery_delayed_delivery` takes read on it, and with read a service
    could bind `#` and receive every other service's delayed tasks."""
    name = task_queue(service)
    delayed_key = f"#.{name}"
    return [
        Exchange(retry_exchange(service), "direct"),
        Exchange(name, "topic"),
        Queue(name, task_queue_arguments(service)),
        Binding(name, name, name),
        Binding(retry_exchange(service), name, name),
        Binding(DEAD_LETTER_EXCHANGE, dead_letter_queue(service), name),
        *celery_delayed_topology(),
        ExchangeBinding(CELERY_DELAYED_DELIVERY_EXCHANGE, name, delayed_key),
        Binding(name, name, delayed_key),
    ]


def celery_delayed_topology() -> Topology:
    """Celery's native delayed delivery for quorum task queues, as kombu declares it
    (kombu.transport.native_delayed_delivery; tests/unit/bus checks they agree): levels 27..0,
    each a topic exchange and a queue holding a message 2^level seconds before dead-lettering
    it to the next level; a delay's 28 bits, as the first 28 words of the routing key, choose at
    each level whether the message waits there or passes straight on. After level 0 it reaches
    `celery_delayed_delivery`, which routes it home by the rest of its key. Every Celery service's
    retries pass through these same queues, so no service may declare, read or delete them:
    infra declares them, and a service may only publish into `celery_delayed_27` with a key
    that ends in its own task queue's name (infra/privileges.py)."""
    objects: Topology = []
    waits = "1.#"
    for level in range(MAX_LEVEL, -1, -1):
        name = level_name(level)
        arguments = reliable_quorum(
            **{
                "x-message-ttl": 2**level * 1000,
                "x-dead-letter-exchange": level_name(level - 1)
                if level
                else CELERY_DELAYED_DELIVERY_EXCHANGE,
            }
        )
        objects += [Exchange(name, "topic"), Queue(name, arguments), Binding(name, name, waits)]
        waits = "*." + waits
    passes = "0.#"
    for level in range(MAX_LEVEL, 0, -1):
        objects.append(ExchangeBinding(level_name(level), level_name(level - 1), passes))
        passes = "*." + passes
    return [
        *objects,
        Exchange(CELERY_DELAYED_DELIVERY_EXCHANGE, "topic"),
        ExchangeBinding(level_name(0), CELERY_DELAYED_DELIVERY_EXCHANGE, passes),
    ]


def control_exchange(service: str) -> str:
    """The fanout exchange of a Celery service's remote control (shared.celery_app sets its
    `control_exchange` to the service's name; kombu appends `.pidbox`)."""
    return f"{service}.pidbox"


def event_exchange(service: str) -> str:
    """The topic exchange a Celery service's workers send their task events to."""
    return f"{service}.celeryev"


def celery_monitor_topology(service: str) -> Topology:
    """How Flower (the administrator, on Celery's default exchanges) watches a Celery service
    whose workers use exchanges of their own: its broadcasts on `celery.pidbox` (enable_events)
    go on to `<service>.pidbox`, and the workers' task events on `<service>.celeryev` go on to
    `celeryev`. The service may not write to `celery.pidbox` nor read `celeryev` (infra/privileges),
    so it can neither command another service's workers nor watch them. Each exchange with exactly
    kombu's and Celery's arguments (pidbox: fanout, transient; celeryev: topic, durable), since the
    workers and Flower declare them too."""
    return [
        Exchange(CELERY_CONTROL_EXCHANGE, "fanout", durable=False),
        Exchange(control_exchange(service), "fanout", durable=False),
        ExchangeBinding(CELERY_CONTROL_EXCHANGE, control_exchange(service)),
        Exchange(CELERY_EVENT_EXCHANGE, "topic"),
        Exchange(event_exchange(service), "topic"),
        ExchangeBinding(event_exchange(service), CELERY_EVENT_EXCHANGE, "#"),
    ]


def declare(channel: Any, topology: Topology) -> None:
    """Apply the topology on a pika blocking channel; safe to repeat and to race."""
    for obj in dict.fromkeys(topology):
        if isinstance(obj, Exchange):
            channel.exchange_declare(
                obj.name, exchange_type=obj.type, durable=obj.durable, passive=obj.passive
            )
        elif isinstance(obj, Queue):
            channel.queue_declare(obj.name, durable=True, arguments=obj.arguments, passive=obj.passive)
        elif isinstance(obj, ExchangeBinding):
            channel.exchange_bind(obj.destination, obj.source, routing_key=obj.routing_key)
        else:
            channel.queue_bind(obj.queue, obj.exchange, routing_key=obj.routing_key)


def is_permanent_refusal(error: BaseException) -> bool:
    """The broker refused for good (403 access refused, 406 precondition failed)."""
    return (
        isinstance(error, pika.exceptions.ChannelClosedByBroker)
        and error.reply_code in _PERMANENT_DECLARE_ERRORS
    )


def declare_on(connection: Any, topology: Topology, *, attempts: int = 5, first_delay_s: float = 0.2) -> None:
    """Apply the topology on its own channel of a blocking connection, retrying transient
    channel errors (e.g. a quorum queue still being created by a process starting at the
    same moment) with backoff. Each attempt uses a fresh channel: a channel error closes it.
    """
    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_transient_channel_error),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_exponential(multiplier=first_delay_s),
        before_sleep=lambda state: log.warning(
            "declaring the topology failed (%s), attempt %d; retrying",
            state.outcome.exception() if state.outcome else None,
            state.attempt_number,
        ),
        reraise=True,
    )
    retrying(_declare_on_fresh_channel, connection, topology)


def _is_transient_channel_error(error: BaseException) -> bool:
    return isinstance(error, pika.exceptions.ChannelClosedByBroker) and not is_permanent_refusal(error)


def _declare_on_fresh_channel(connection: Any, topology: Topology) -> None:
    """One object at a time, so that a classic queue (a DLQ) whose node is away is left as it is,
    with its bindings: it exists, and only its node can serve it. In a cluster, a service whose
    DLQ lives on the node that just went down keeps consuming; what it would park there goes back
    to its own queue meanwhile (the move is mandatory and confirmed, shared.consumer.move)."""
    channel, away = connection.channel(), set()
    for obj in dict.fromkeys(topology):
        if isinstance(obj, Binding) and obj.queue in away:
            continue
        try:
            declare(channel, [obj])
        except pika.exceptions.ChannelClosedByBroker as exc:
            if not (isinstance(obj, Queue) and _on_a_node_away(exc)):
                raise
            log.warning("queue %s is on a node that is away, left as it is: %s", obj.name, exc.reply_text)
            away.add(obj.name)
            channel = connection.channel()
    channel.close()


def _on_a_node_away(error: pika.exceptions.ChannelClosedByBroker) -> bool:
    """404 in the broker's words for a durable classic queue whose node is down (3.10 and 4.x)."""
    return error.reply_code == 404 and "is down or inaccessible" in error.reply_text


def apply(amqp_url: str, topology: Topology) -> None:
    """`declare_on` over a connection of its own, for a process that declares and moves on."""
    connection = blocking_connection(amqp_url)
    try:
        declare_on(connection, topology)
    finally:
        connection.close()


def to_definitions(topology: Topology, vhost: str = "/") -> dict[str, Any]:
    """The same objects in RabbitMQ's definitions format, for a broker to load at boot (what is
    only checked, not declared, is left out: its declaration is in the list too)."""
    unique = [o for o in dict.fromkeys(topology) if not getattr(o, "passive", False)]
    return {
        "exchanges": [
            {
                "name": o.name,
                "vhost": vhost,
                "type": o.type,
                "durable": o.durable,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for o in unique
            if isinstance(o, Exchange)
        ],
        "queues": [
            {
                "name": o.name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": o.arguments,
            }
            for o in unique
            if isinstance(o, Queue)
        ],
        "bindings": [
            _binding_definition(o, vhost) for o in unique if isinstance(o, Binding | ExchangeBinding)
        ],
    }


def _binding_definition(binding: Binding | ExchangeBinding, vhost: str) -> dict[str, Any]:
    if isinstance(binding, Binding):
        destination, destination_type, source = binding.queue, "queue", binding.exchange
    else:
        destination, destination_type, source = binding.destination, "exchange", binding.source
    return {
        "source": source,
        "vhost": vhost,
        "destination": destination,
        "destination_type": destination_type,
        "routing_key": binding.routing_key,
        "arguments": {},
    }
