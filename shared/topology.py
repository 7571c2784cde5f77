"""Broker topology, declared once as data and applied idempotently by every process.

`shared_topology()` is what all services rely on (the event exchange, the dead-letter
exchange, the event-log stream). `service_topology()` is what one subscribing service
owns: its quorum queue bound to the event types it handles, its delay queues for
retries with backoff and its dead-letter queue. `declare()` applies a list of objects
on a pika channel; `to_definitions()` exports the same list as RabbitMQ definitions.
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


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str


@dataclass(frozen=True)
class Queue:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.name)


@dataclass(frozen=True)
class Binding:
    exchange: str
    queue: str
    routing_key: str


Topology = list[Exchange | Queue | Binding]


def dead_letter_queue(service: str) -> str:
    return f"{service}.dlq"


def retry_queue(service: str, delay_s: int) -> str:
    return f"{service}.retry.{delay_s}s"


def shared_topology() -> Topology:
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


def reliable_quorum(**extra: Any) -> dict[str, Any]:
    """Arguments of a quorum queue that dead-letters at-least-once (which needs reject-publish
    overflow): a dead letter leaves the queue only once its target confirmed it."""
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        **extra,
    }


def dead_lettering_to(service: str) -> dict[str, Any]:
    """Arguments of a queue whose poison and exhausted messages end in `<service>.dlq`: the
    service's event queue, and its Celery task queue (shared.celery_app)."""
    return reliable_quorum(
        **{
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": service,
        }
    )


def service_topology(service: str, event_types: list[str] | tuple[str, ...]) -> Topology:
    """The queues one subscribing service owns, bound to the event types it handles."""
    objects: Topology = [
        *shared_topology(),
        Queue(service, dead_lettering_to(service)),
        # A parking lot, read by people (the dashboard peeks and requeues): classic, so no
        # delivery limit (4.x gives quorum queues one by default) can ever drop a dead letter.
        Queue(dead_letter_queue(service), {"x-queue-type": "classic"}),
        Binding(DEAD_LETTER_EXCHANGE, dead_letter_queue(service), service),
    ]
    for delay in RETRY_DELAYS_S:
        objects.append(
            Queue(
                retry_queue(service, delay),
                reliable_quorum(
                    **{
                        "x-message-ttl": delay * 1000,
                        "x-dead-letter-exchange": "",
                        "x-dead-letter-routing-key": service,
                    }
                ),
            )
        )
    objects += [Binding(EVENTS_EXCHANGE, service, key) for key in sorted(set(event_types))]
    return objects


def declare(channel: Any, topology: Topology) -> None:
    """Apply the topology on a pika blocking channel; safe to repeat and to race."""
    for obj in dict.fromkeys(topology):
        if isinstance(obj, Exchange):
            channel.exchange_declare(obj.name, exchange_type=obj.type, durable=True)
        elif isinstance(obj, Queue):
            channel.queue_declare(obj.name, durable=True, arguments=obj.arguments)
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
    channel = connection.channel()
    declare(channel, topology)
    channel.close()


def apply(amqp_url: str, topology: Topology) -> None:
    """`declare_on` over a connection of its own, for a process that declares and moves on."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        declare_on(connection, topology)
    finally:
        connection.close()


def to_definitions(topology: Topology, vhost: str = "/") -> dict[str, Any]:
    """The same objects in RabbitMQ's definitions format, for a broker to load at boot."""
    unique = list(dict.fromkeys(topology))
    return {
        "exchanges": [
            {
                "name": o.name,
                "vhost": vhost,
                "type": o.type,
                "durable": True,
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
            {
                "source": o.exchange,
                "vhost": vhost,
                "destination": o.queue,
                "destination_type": "queue",
                "routing_key": o.routing_key,
                "arguments": {},
            }
            for o in unique
            if isinstance(o, Binding)
        ],
    }
