"""Consumer runner: one service queue, plain handler functions per event type.

    handlers = bootstrap(settings, redis).events       # from the service's bootstrap()
    EventConsumer("payments", handlers, settings).run()

The connection's own thread only does I/O (so heartbeats flow during slow handlers);
handlers run on a small thread pool and hand their outcome back through one
`add_callback_threadsafe` wake-up per batch, because pika connections are not
thread-safe. Quick handlers (a Redis write or two) run on the I/O thread itself
(`workers=0`): two thread hand-offs per message cost more than such a handler; one that
may block for long belongs on the pool. A message is acked only after its handler
returned; completed deliveries are acked together (`multiple=True` up to the first one
still in progress), which is what lets the consumer keep up with the broker. A failure is
retried through the service's delay queues (1 s, 5 s, 25 s); after the last attempt, or at
once for an invalid event or a `PermanentError`, the message goes to `<service>.dlq` with
the reason and the attempt count in its headers. Headers are the publisher's to write: an
`x-attempt` that is not a count of ours counts as none (`previous_attempts`), and a header
pika cannot send again is dropped when the message is moved, so no header crashes the
consumer. An event is accepted only from the broker user that owns its type (its `user_id`,
which the broker checks) or from the service's own user (a message it moved itself); anything
else is parked at once as `forged`. SIGTERM stops taking messages, lets running handlers
finish, returns the rest to the queue unstarted and exits 0. The broker connection is
re-established with backoff when it drops.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import signal
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
import pika.data
import pika.exceptions
from opentelemetry.trace import StatusCode
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import topology
from shared.bootstrap import Bootstrap, Handler
from shared.broker import blocking_connection
from shared.contract import authentic, publisher_users
from shared.envelope import Event, InvalidEvent, decode
from shared.logs import configure_logging, event_context
from shared.metrics import EVENTS_CONSUMED, HANDLER_SECONDS, start_flusher
from shared.publisher import PublishError, forwarded_properties
from shared.settings import ConsumerSettings, Settings
from shared.tracing import processing, start_tracing

log = logging.getLogger(__name__)

# The handler key of an observer: every event, of any type, also ones the contract does not list yet.
ANY_TYPE = "*"

ATTEMPT_HEADER = "x-attempt"
REASON_HEADER = "x-death-reason"
ERROR_HEADER = "x-error"
# Parked without the consumer's user_id: their sender was not (or could not be) vouched for, so
# a replay brings them back as unvouched as they came.
UNVOUCHED = frozenset({"forged", "invalid", "consumer-error"})


class PermanentError(Exception):
    """The handler can never succeed with this event: dead-letter it without retrying."""


class ConsumerCancelled(pika.exceptions.AMQPError):
    """The broker cancelled our subscription (e.g. the queue was deleted): start over."""


@dataclass(frozen=True)
class Outcome:
    """What to do with a delivery once its handler is done, decided off the I/O thread."""

    action: str  # "ack" | "retry" | "dead_letter" | "release"
    reason: str = ""
    error: str = ""
    attempt: int = 1


# A dependency away (Redis restarting or still loading its data, redis-py having given up its own
# retries; a publish the broker did not confirm): not the message's fault, and safe to repeat. It
# never uses up a message's attempts: the message waits in the delay queues, the longest one
# again and again, as long as the outage lasts (Celery tasks retry the same, shared/tasks.py).
OUTAGES = (RedisConnectionError, RedisTimeoutError, PublishError)

RELEASE = Outcome("release")  # never started (we are stopping): the broker hands it out again


@dataclass(frozen=True)
class Delivery:
    tag: int
    routing_key: str
    properties: pika.BasicProperties
    body: bytes


class _Session:
    """The deliveries of one connection: their tags are only valid on its channel.

    Handler threads only append to `done` and wake the I/O thread; everything else
    here runs on the I/O thread. Handlers that run on the I/O thread itself need no
    wake-up: the consume loop settles what they did after each round of I/O.
    """

    def __init__(
        self, service: str, user: str, connection: pika.BlockingConnection, channel: Any, side: Any
    ) -> None:
        self.service = service
        self.user = user
        self.connection = connection
        self.channel = channel
        self.side = side  # confirm-mode channel for moving messages to retry queues / the DLQ
        self.cancelled = False
        self.in_hand = 0
        self.done: collections.deque[tuple[Delivery, Outcome]] = collections.deque()
        self._unsettled: collections.deque[int] = collections.deque()
        self._settled_alone: set[int] = set()
        self._wake_pending = False
        self._wake_lock = threading.Lock()

    def received(self, delivery: Delivery) -> None:
        self.in_hand += 1
        self._unsettled.append(delivery.tag)

    def complete(self, delivery: Delivery, outcome: Outcome, *, wake: bool = True) -> None:
        """Queue the outcome; from a handler thread, one wake-up serves everything queued meanwhile."""
        self.done.append((delivery, outcome))
        if not wake:
            return
        with self._wake_lock:
            if self._wake_pending:
                return
            self._wake_pending = True
        # connection gone: the broker redelivers what we did not ack
        with contextlib.suppress(pika.exceptions.AMQPError):
            self.connection.add_callback_threadsafe(self.settle_done)

    def settle_done(self) -> None:
        with self._wake_lock:
            self._wake_pending = False
        to_ack: set[int] = set()
        while self.done:
            delivery, outcome = self.done.popleft()
            self.in_hand -= 1
            if outcome.action == "release":
                continue
            if outcome.action != "ack" and not self._park(delivery, outcome):
                self.channel.basic_nack(delivery.tag, requeue=True)
                self._settled_alone.add(delivery.tag)
                continue
            to_ack.add(delivery.tag)
        self._ack(to_ack)

    def _ack(self, tags: set[int]) -> None:
        """One multiple-ack for the completed prefix, single acks for completions behind a slow one."""
        last = None
        while self._unsettled and (self._unsettled[0] in tags or self._unsettled[0] in self._settled_alone):
            tag = self._unsettled.popleft()
            if tag in tags:
                tags.discard(tag)
                last = tag
            else:
                self._settled_alone.discard(tag)
        if last is not None:
            self.channel.basic_ack(last, multiple=True)
        for tag in tags:
            self.channel.basic_ack(tag)
            self._settled_alone.add(tag)

    def _park(self, delivery: Delivery, outcome: Outcome) -> bool:
        """Move the message to a retry queue or the DLQ (confirmed) before its ack."""
        return move(self.side, self.service, self.user, delivery, outcome)


def previous_attempts(headers: dict[str, Any]) -> int:
    """How often the message was tried before, as our own `x-attempt` counts: whatever else a
    publisher put there (text, a negative or fractional number, a list...) counts as none, and
    a count past the last retry as the last one."""
    count = headers.get(ATTEMPT_HEADER)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return 0
    return min(count, len(topology.RETRY_DELAYS_S))


def move(side: Any, service: str, user: str, delivery: Delivery, outcome: Outcome) -> bool:
    """Publish the message to a retry queue or to the service's DLQ on the confirm-mode channel
    `side`; False if the broker did not take it. `user` vouches for the sender unless the
    reason is one of `UNVOUCHED`."""
    headers = _encodable(delivery.properties.headers or {})
    headers[ATTEMPT_HEADER] = outcome.attempt
    # backslashreplace: a lone surrogate (from a JSON escape) cannot be sent as UTF-8
    headers[ERROR_HEADER] = outcome.error[:1000].encode("utf-8", "backslashreplace").decode()
    headers.setdefault("x-original-routing-key", delivery.routing_key)
    if outcome.action == "retry":
        headers.pop(REASON_HEADER, None)  # a replayed message failing again is not parked (yet)
        delay = topology.RETRY_DELAYS_S[outcome.attempt - 1]
        exchange, key = topology.retry_exchange(service), topology.retry_queue(service, delay)
    else:
        headers[REASON_HEADER] = outcome.reason
        headers["x-dead-lettered-at"] = datetime.now(UTC).isoformat()
        exchange, key = topology.DEAD_LETTER_EXCHANGE, service
    props = delivery.properties
    try:
        side.basic_publish(
            exchange,
            key,
            delivery.body,
            forwarded_properties(props, headers, None if outcome.reason in UNVOUCHED else user),
            mandatory=True,
        )
    except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
        log.error("could not park message (%s); returning it to the queue", exc)
        return False
    return True


def _encodable(headers: dict[str, Any]) -> dict[str, Any]:
    """The headers pika can send again: it decodes floats (and huge decimals) another client
    sent, but cannot encode them; such a header is dropped rather than the message left stuck."""
    kept = {}
    for name, value in headers.items():
        try:
            pika.data.encode_table([], {name: value})
        except Exception:  # pika raises several kinds (unsupported type, struct overflow)
            log.warning("dropping header %r that cannot be sent again", name)
            continue
        kept[name] = value
    return kept


class EventConsumer:
    def __init__(
        self,
        service: str,
        handlers: dict[str, Handler],
        settings: Settings,
        *,
        prefetch: int = 20,
        workers: int = 4,
        stop_timeout_s: float = 30.0,
    ) -> None:
        """The service queue is bound to the handled event types; an `ANY_TYPE` handler (an
        observer such as the dashboard) binds `#`: every type, present and future, decoded
        even before the contract lists it."""
        self.service = service
        self.handlers = handlers
        self.settings = settings
        self.prefetch = prefetch
        self.workers = workers
        self.stop_timeout_s = stop_timeout_s
        self.observes_any_type = ANY_TYPE in handlers
        self.user = settings.amqp_user
        self.senders = publisher_users(self.user, service)
        routing_keys = ["#" if event_type == ANY_TYPE else event_type for event_type in handlers]
        self.topology = topology.service_topology(service, routing_keys)
        self._stopping = threading.Event()
        self._pool: ThreadPoolExecutor | None = None  # None: handlers run on the I/O thread

    # ---- lifecycle --------------------------------------------------------------

    def run(self, install_signal_handlers: bool = True) -> None:
        """Consume until stopped; reconnect with backoff whenever the broker goes away."""
        if install_signal_handlers:
            signal.signal(signal.SIGTERM, lambda *_: self.stop())
            signal.signal(signal.SIGINT, lambda *_: self.stop())
        delay = 0.2
        pool = ThreadPoolExecutor(self.workers, f"{self.service}-h") if self.workers else None
        with pool or contextlib.nullcontext():
            self._pool = pool
            while not self._stopping.is_set():
                try:
                    self._consume()
                    delay = 0.2
                except (pika.exceptions.AMQPError, OSError) as exc:
                    if topology.is_permanent_refusal(exc):
                        raise  # a wrong queue definition or missing rights: crash, do not spin
                    log.warning("broker connection lost (%r); reconnecting in %.1fs", exc, delay)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, 5.0)
        log.info("consumer stopped")

    def stop(self) -> None:
        """Safe from a signal handler or any thread."""
        self._stopping.set()

    def _consume(self) -> None:
        connection = blocking_connection(self.settings.amqp_url, name=f"{self.service}-consumer")
        try:
            topology.declare_on(connection, self.topology)
            channel = connection.channel()
            channel.basic_qos(prefetch_count=self.prefetch)
            side = connection.channel()
            side.confirm_delivery()
            session = _Session(self.service, self.user, connection, channel, side)
            channel.add_on_cancel_callback(lambda _frame: setattr(session, "cancelled", True))
            consumer_tag = channel.basic_consume(
                self.service, lambda _ch, method, props, body: self._on_message(session, method, props, body)
            )
            log.info("consuming %s (%s)", self.service, ", ".join(sorted(self.handlers)))
            while not self._stopping.is_set():
                self._pump(connection, session, 0.25)
                if session.cancelled:
                    raise ConsumerCancelled(f"broker cancelled the consumer of {self.service}")
            channel.basic_cancel(consumer_tag)
            deadline = time.monotonic() + self.stop_timeout_s
            while session.in_hand and time.monotonic() < deadline:
                self._pump(connection, session, 0.05)
        finally:
            if connection.is_open:
                connection.close()

    def _pump(self, connection: pika.BlockingConnection, session: _Session, time_limit: float) -> None:
        """One round of I/O; then one multiple-ack for the handlers that ran inline during it."""
        connection.process_data_events(time_limit=time_limit)
        if self._pool is None and session.done:
            session.settle_done()

    # ---- per message ------------------------------------------------------------

    def _on_message(self, session: _Session, method: Any, props: Any, body: bytes) -> None:
        delivery = Delivery(method.delivery_tag, method.routing_key, props, body)
        session.received(delivery)
        if self._pool is None:
            self._handle(session, delivery)
        else:
            self._pool.submit(self._handle, session, delivery)

    def _handle(self, session: _Session, delivery: Delivery) -> None:
        """On a pool thread or inline on the I/O thread: decide the outcome, then hand it over."""
        if self._stopping.is_set():
            outcome = RELEASE
        else:
            try:
                outcome = self.outcome_of(
                    delivery.body,
                    delivery.properties.headers or {},
                    delivery.routing_key,
                    delivery.properties.user_id,
                )
            except Exception as exc:  # a bug here must not leave the message unacked forever
                log.exception("could not process a delivery")
                outcome = Outcome("dead_letter", reason="consumer-error", error=repr(exc))
        session.complete(delivery, outcome, wake=self._pool is not None)

    def outcome_of(
        self, body: bytes, headers: dict[str, Any], routing_key: str, sender: str | None
    ) -> Outcome:
        """`sender`: the message's user_id, i.e. the broker user that published it."""
        # A parked message that is back here was replayed from the DLQ: a full set of retries again.
        attempt = 1 if REASON_HEADER in headers else previous_attempts(headers) + 1
        try:
            event = decode(body, any_type=self.observes_any_type)
        except InvalidEvent as exc:
            EVENTS_CONSUMED.labels(routing_key, "dead_lettered").inc()
            event, outcome = None, Outcome("dead_letter", reason="invalid", error=str(exc), attempt=attempt)
        with processing(self.service, routing_key, headers, event) as span:
            if event is not None:
                outcome = self._handled(event, sender, attempt)
            if span is not None and outcome.action != "ack":
                span.set_status(StatusCode.ERROR, f"{outcome.action}: {outcome.reason or outcome.error}")
            return outcome

    def _handled(self, event: Event, sender: str | None, attempt: int) -> Outcome:
        if not authentic(self.senders, event.type, sender, self.user):
            owner = self.senders[event.type]
            log.warning("forged %s %s from %r (only %r publishes it)", event.type, event.id, sender, owner)
            EVENTS_CONSUMED.labels(event.type, "dead_lettered").inc()
            error = f"{event.type} published by {sender!r}, not by its owner {owner!r}"
            return Outcome("dead_letter", reason="forged", error=error, attempt=attempt)
        handler = self.handlers.get(event.type) or self.handlers.get(ANY_TYPE)
        if handler is None:
            EVENTS_CONSUMED.labels(event.type, "dead_lettered").inc()
            return Outcome(
                "dead_letter", reason="unhandled", error=f"no handler for {event.type}", attempt=attempt
            )
        started = time.perf_counter()
        with event_context(event):
            try:
                handler(event)
            except PermanentError as exc:
                log.error("dead-lettering %s: %s", event.type, exc)
                EVENTS_CONSUMED.labels(event.type, "dead_lettered").inc()
                return Outcome("dead_letter", reason="rejected", error=str(exc), attempt=attempt)
            except Exception as exc:
                error = "".join(traceback.format_exception_only(exc)).strip()
                if isinstance(exc, OUTAGES):
                    log.warning("attempt %d of %s met an outage, waiting: %s", attempt, event.type, error)
                    EVENTS_CONSUMED.labels(event.type, "retried").inc()
                    return Outcome("retry", error=error, attempt=min(attempt, len(topology.RETRY_DELAYS_S)))
                if attempt > len(topology.RETRY_DELAYS_S):
                    log.error("giving up on %s after %d attempts: %s", event.type, attempt, error)
                    EVENTS_CONSUMED.labels(event.type, "dead_lettered").inc()
                    return Outcome("dead_letter", reason="exhausted", error=error, attempt=attempt)
                log.warning("attempt %d of %s failed, retrying: %s", attempt, event.type, error)
                EVENTS_CONSUMED.labels(event.type, "retried").inc()
                return Outcome("retry", error=error, attempt=attempt)
            finally:
                HANDLER_SECONDS.labels(event.type).observe(time.perf_counter() - started)
        EVENTS_CONSUMED.labels(event.type, "ok").inc()
        return Outcome("ack")


def run_service_consumer(settings: ConsumerSettings, bootstrap: Bootstrap, **overrides: object) -> int:
    """A service's consumer process: logs, metrics, its bootstrapped event handlers, the consume
    loop until SIGTERM, with the prefetch and handler threads of its settings
    (`<SERVICE>_CONSUMER_PREFETCH`, `<SERVICE>_CONSUMER_WORKERS`)."""
    configure_logging(settings, "consumer")
    start_tracing(settings.service, "consumer")
    redis = settings.connect_redis()
    stop_flusher = start_flusher(redis, settings.key("metrics"))
    handlers = bootstrap(settings, redis, **overrides).events
    EventConsumer(
        settings.service,
        handlers,
        settings,
        prefetch=settings.consumer_prefetch,
        workers=settings.consumer_workers,
    ).run()
    stop_flusher.set()
    return 0
