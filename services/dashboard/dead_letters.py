"""Each service's dead-letter queue: what is in it, why, and replaying it.

Two kinds of dead letters end up in `<service>.dlq`. The consumer runner parks a message
itself, with `x-death-reason`, `x-error` and `x-attempt` headers; the broker dead-letters
one that exceeded the queue's delivery limit, with its own `x-death` table. `describe()`
reads both into one shape.

Replaying a message republishes it where it failed (default exchange, routing key = queue
name): the service's event queue, or the queue the broker dead-lettered it from, such as
the Celery task queue `<service>.tasks` for a task whose retries ran out. It is published
with a confirm and only then acked in the DLQ: a crash in between leaves a duplicate, never
a loss, and consumers are idempotent. The headers of the failed attempts are dropped so
the message gets a full set of retries again; a replay counter travels with it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions

from shared.consumer import ATTEMPT_HEADER, ERROR_HEADER, REASON_HEADER
from shared.envelope import InvalidEvent, decode
from shared.publisher import forwarded_properties
from shared.topology import dead_letter_queue

REPLAY_COUNT_HEADER = "x-replay-count"
FAILURE_HEADERS = frozenset(
    {
        ATTEMPT_HEADER,
        ERROR_HEADER,
        REASON_HEADER,
        "x-dead-lettered-at",
        "x-death",
        "x-delivery-count",
        "x-first-death-exchange",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-last-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
    }
)
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MAX_IN_HAND = 500  # messages received but not yet settled, per peek or replay


class NoSuchQueue(LookupError):
    """The service has no dead-letter queue in this broker (or vhost)."""


@dataclass(frozen=True)
class DeadLetter:
    key: str  # message id, or a digest of the body for a message that has none
    reason: str
    error: str
    attempts: int | None
    dead_lettered_at: str | None
    replays: int
    event_type: str | None
    order_id: str | None
    preview: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def message_key(message_id: str | None, body: bytes) -> str:
    return message_id or "sha256:" + hashlib.sha256(body).hexdigest()[:16]


def describe(headers: dict[str, Any] | None, body: bytes, message_id: str | None = None) -> DeadLetter:
    """Why and when a message was dead-lettered, from the consumer's headers or the broker's x-death."""
    headers = headers or {}
    deaths = headers.get("x-death") or []
    first_death = deaths[0] if deaths and isinstance(deaths[0], dict) else {}
    reason = _text(headers.get(REASON_HEADER)) or _text(first_death.get("reason")) or "unknown"
    attempts = headers.get(ATTEMPT_HEADER, first_death.get("count"))
    when = headers.get("x-dead-lettered-at") or first_death.get("time")
    if isinstance(when, datetime):
        when = when.astimezone(UTC).isoformat()
    event_type, order_id = _event_identity(body)
    return DeadLetter(
        key=message_key(message_id, body),
        reason=reason,
        error=_text(headers.get(ERROR_HEADER)) or _broker_error(first_death),
        attempts=int(attempts) if attempts is not None else None,
        dead_lettered_at=_text(when) or None,
        replays=int(headers.get(REPLAY_COUNT_HEADER, 0)),
        event_type=event_type,
        order_id=order_id,
        preview=body[:300].decode("utf-8", errors="replace"),
    )


def replay_queue(service: str, headers: dict[str, Any] | None) -> str:
    """Back to the queue it failed in, if that is one of the service's own queues.

    A message the consumer parked failed in the service's event queue; its `x-death` only
    records its trips through the retry queues, which would hold it back for their delay."""
    headers = headers or {}
    if REASON_HEADER in headers:
        return service
    deaths = headers.get("x-death") or []
    queue = _text(deaths[0].get("queue")) if deaths and isinstance(deaths[0], dict) else ""
    return queue if queue.startswith(service + ".") else service


def replay_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    """The headers of a replayed message: its failure history dropped, its replay counted.

    A Celery task (protocol 2 keeps its retry count in the `retries` header) starts over with
    a full set of retries, and runs now rather than at an old ETA."""
    kept = {k: v for k, v in (headers or {}).items() if k not in FAILURE_HEADERS}
    if "retries" in kept:
        kept["retries"] = 0
        kept.pop("eta", None)
    kept[REPLAY_COUNT_HEADER] = int(kept.get(REPLAY_COUNT_HEADER, 0)) + 1
    kept["x-replayed-at"] = datetime.now(UTC).isoformat()
    return kept


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _broker_error(death: dict[str, Any]) -> str:
    if not death:
        return ""
    return f"dead-lettered by the broker from {_text(death.get('queue'))} ({_text(death.get('reason'))})"


def _event_identity(body: bytes) -> tuple[str | None, str | None]:
    try:
        event = decode(body)
    except InvalidEvent:
        return None, None
    return event.type, event.subject


class DeadLetterQueues:
    """Peek into and replay a service's DLQ over a short-lived AMQP connection."""

    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url

    def peek(self, service: str, limit: int = 50) -> tuple[int, list[DeadLetter]]:
        """The DLQ's depth and up to `limit` messages, left in place (unacked, then returned)."""
        with self._channel(service) as (channel, depth):
            letters = [
                describe(props.headers, body, props.message_id)
                for _method, props, body in self._take(channel, service, min(depth, limit))
            ]
        return depth, letters

    def replay(self, service: str, key: str | None = None) -> int:
        """Move one message (by key) or every message back to the service's queue."""
        replayed = 0
        with self._channel(service) as (channel, depth):
            channel.confirm_delivery()
            for method, props, body in self._take(channel, service, depth):
                if key is not None and message_key(props.message_id, body) != key:
                    continue
                channel.basic_publish(
                    "",
                    replay_queue(service, props.headers),
                    body,
                    forwarded_properties(props, replay_headers(props.headers)),
                    mandatory=True,
                )  # returns once confirmed; raises if the broker refused or could not route it
                channel.basic_ack(method.delivery_tag)
                replayed += 1
                if key is not None:
                    break
        return replayed

    def _channel(self, service: str) -> _DeadLetterChannel:
        if not SERVICE_NAME.match(service):
            raise NoSuchQueue(service)
        return _DeadLetterChannel(self._amqp_url, service)

    @staticmethod
    def _take(channel: Any, service: str, count: int) -> Iterator[tuple[Any, Any, bytes]]:
        """Receive up to `count` messages; those not acked go back when the connection closes."""
        if count <= 0:
            return
        channel.basic_qos(prefetch_count=min(count, MAX_IN_HAND))
        deliveries = channel.consume(dead_letter_queue(service), inactivity_timeout=1.0)
        for taken, (method, props, body) in enumerate(deliveries, start=1):
            if method is None:
                return  # drained meanwhile, or MAX_IN_HAND unacked messages searched
            yield method, props, body
            if taken >= count:
                return


class _DeadLetterChannel:
    """A connection named after its purpose; closing it returns every message not acked."""

    def __init__(self, amqp_url: str, service: str) -> None:
        self._params = pika.URLParameters(amqp_url)
        self._params.client_properties = {"connection_name": "dashboard-dead-letters"}
        self._service = service

    def __enter__(self) -> tuple[Any, int]:
        self._connection = pika.BlockingConnection(self._params)
        try:
            channel = self._connection.channel()
            declared = channel.queue_declare(dead_letter_queue(self._service), passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            self._connection.close()
            raise NoSuchQueue(self._service) from exc
        return channel, declared.method.message_count

    def __exit__(self, *_exc: object) -> None:
        if self._connection.is_open:
            self._connection.close()
