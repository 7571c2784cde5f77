"""Each service's dead-letter queue: what is in it, why, and replaying it.

Two kinds of dead letters end up in `<service>.dlq`. The consumer runner parks a message
itself, with `x-death-reason`, `x-error` and `x-attempt` headers; the broker dead-letters
one that exceeded the queue's delivery limit, with its own `x-death` table. `describe()`
reads both into one shape.

Replaying a message rejects it from the DLQ: the broker dead-letters it through the
service's own exchange `<service>.retry` by its routing key, back to the queue it failed in
(`<service>`, or the Celery task queue `<service>.tasks`). So the dashboard needs no write
permission anywhere, and the message keeps its properties: its `user_id` still names whoever
published it, and a forged event stays forged. The consumer gives a replayed event a full set
of retries again (it sees the `x-death-reason` it parked it with); a replayed task gets one
more run, its Celery retries being spent. Before rejecting, the dashboard checks that the
queue it goes back to exists, since a classic queue drops what it cannot dead-letter.
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

from shared.broker import blocking_connection
from shared.consumer import ATTEMPT_HEADER, ERROR_HEADER, REASON_HEADER
from shared.envelope import InvalidEvent, decode
from shared.topology import dead_letter_queue, task_queue

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
MAX_IN_HAND = 500  # messages received but not yet settled, per peek or replay
MAX_COUNT = 10**9  # beyond any real attempt or replay count
MAX_TEXT = 1000  # characters of a reason, an error or a time the panel shows


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


def describe(headers: Any, body: bytes, message_id: str | None = None) -> DeadLetter:
    """Why and when a message was dead-lettered, from the consumer's headers or the broker's x-death.

    Whoever published the message chose its headers: each is read for what it should be
    and, when it is anything else, shown as missing.
    """
    headers = headers if isinstance(headers, dict) else {}
    death, replays = _deaths(headers.get("x-death"))
    attempts = _count(headers.get(ATTEMPT_HEADER))
    event_type, order_id = _event_identity(body)
    return DeadLetter(
        key=message_key(message_id, body),
        reason=_text(headers.get(REASON_HEADER)) or _text(death.get("reason")) or "unknown",
        error=_text(headers.get(ERROR_HEADER)) or _broker_error(death),
        attempts=attempts if attempts is not None else _count(death.get("count")),
        dead_lettered_at=_moment(headers.get("x-dead-lettered-at")) or _moment(death.get("time")),
        replays=replays,
        event_type=event_type,
        order_id=order_id,
        preview=body[:300].decode("utf-8", errors="replace"),
    )


def _deaths(x_death: Any) -> tuple[dict[str, Any], int]:
    """The latest death elsewhere than in a DLQ, and the replays: a DLQ's own deaths count them.
    (x-death lists the latest death first, one entry per queue and reason.)"""
    latest: dict[str, Any] = {}
    replays = 0
    for death in x_death if isinstance(x_death, list) else []:
        if not isinstance(death, dict):
            continue
        if _text(death.get("queue")).endswith(".dlq"):
            count = _count(death.get("count"))
            replays += 1 if count is None else count
        elif not latest:
            latest = death
    return latest, replays


def _count(value: Any) -> int | None:
    """A count header: a whole number from 0 to MAX_COUNT, or None."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    return None


def _moment(value: Any) -> str | None:
    """A time header: an AMQP timestamp (a datetime; one without zone taken as UTC) or the text sent."""
    if isinstance(value, datetime):
        try:
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
        except (OverflowError, ValueError):
            return None
    return _text(value) or None


def _text(value: Any) -> str:
    """A text header, cut to what the panel shows; anything else (a number, a table) is no text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return value[:MAX_TEXT] if isinstance(value, str) else ""


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
        """Move one message (by key) or every message back where it failed, by rejecting it."""
        replayed, ways_back = 0, set()
        with self._channel(service) as (channel, depth):
            for method, props, body in self._take(channel, service, depth):
                if key is not None and message_key(props.message_id, body) != key:
                    continue
                if method.routing_key not in ways_back:
                    self._check_way_back(channel.connection, service, method.routing_key)
                    ways_back.add(method.routing_key)
                channel.basic_reject(method.delivery_tag, requeue=False)
                replayed += 1
                if key is not None:
                    break
            channel.basic_qos(prefetch_count=1)  # a round trip: every reject before it was handled
        return replayed

    @staticmethod
    def _check_way_back(connection: Any, service: str, routing_key: str) -> None:
        """The queue a rejected dead letter goes back to must exist: a classic queue drops a
        message it cannot dead-letter. (Checked on a channel of its own: a failed check closes it.)"""
        if routing_key not in (service, task_queue(service)):
            raise NoSuchQueue(f"{service}: a dead letter routed by {routing_key!r} has no way back")
        check = connection.channel()
        try:
            check.queue_declare(routing_key, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise NoSuchQueue(f"{service}: {routing_key} does not exist") from exc
        check.close()

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
        self._amqp_url = amqp_url
        self._service = service

    def __enter__(self) -> tuple[Any, int]:
        self._connection = blocking_connection(self._amqp_url, name="dashboard-dead-letters")
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
