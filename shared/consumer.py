"""Consumer runner: one service queue, plain handler functions per event type.

    handlers = {"order.placed": request_charge}       # from the service's bootstrap()
    EventConsumer("payments", handlers, settings).run()

The connection's own thread only does I/O (so heartbeats flow during slow handlers);
handlers run on a small thread pool and hand their outcome back with
`add_callback_threadsafe`, because pika connections are not thread-safe. A message is
acked only after its handler returned. A failure is retried through the service's delay
queues (1 s, 5 s, 25 s); after the last attempt, or at once for an invalid event or a
`PermanentError`, the message goes to `<service>.dlq` with the reason and the attempt
count in its headers. SIGTERM stops taking messages, finishes those in hand, exits 0.
The broker connection is re-established with backoff when it drops.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
import pika.exceptions

from shared import topology
from shared.envelope import Event, InvalidEvent, decode
from shared.logs import event_context
from shared.metrics import EVENTS_CONSUMED, HANDLER_SECONDS
from shared.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[Event], None]

ATTEMPT_HEADER = "x-attempt"
REASON_HEADER = "x-death-reason"
ERROR_HEADER = "x-error"


class PermanentError(Exception):
    """The handler can never succeed with this event: dead-letter it without retrying."""


@dataclass(frozen=True)
class Outcome:
    """What to do with a delivery once its handler is done, decided off the I/O thread."""

    action: str  # "ack" | "retry" | "dead_letter"
    reason: str = ""
    error: str = ""
    attempt: int = 1


class EventConsumer:
    def __init__(
        self,
        service: str,
        handlers: dict[str, Handler],
        settings: Settings,
        *,
        prefetch: int = 20,
        workers: int = 4,
    ) -> None:
        self.service = service
        self.handlers = handlers
        self.settings = settings
        self.prefetch = prefetch
        self.workers = workers
        self.topology = topology.service_topology(service, list(handlers))
        self._stopping = threading.Event()
        self._in_hand = 0
        self._lock = threading.Lock()

    # ---- lifecycle --------------------------------------------------------------

    def run(self, install_signal_handlers: bool = True) -> None:
        """Consume until stopped; reconnect with backoff whenever the broker goes away."""
        if install_signal_handlers:
            signal.signal(signal.SIGTERM, lambda *_: self.stop())
            signal.signal(signal.SIGINT, lambda *_: self.stop())
        delay = 0.2
        with ThreadPoolExecutor(self.workers, thread_name_prefix=f"{self.service}-h") as pool:
            self._pool = pool
            while not self._stopping.is_set():
                try:
                    self._consume()
                    delay = 0.2
                except (pika.exceptions.AMQPError, OSError) as exc:
                    log.warning("broker connection lost (%s); reconnecting in %.1fs", exc, delay)
                    self._stopping.wait(delay)
                    delay = min(delay * 2, 5.0)
        log.info("consumer stopped")

    def stop(self) -> None:
        self._stopping.set()

    def _consume(self) -> None:
        params = pika.URLParameters(self.settings.amqp_url)
        params.client_properties = {"connection_name": f"{self.service}-consumer"}
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            topology.declare(channel, self.topology)
            channel.basic_qos(prefetch_count=self.prefetch)
            side_channel = connection.channel()
            side_channel.confirm_delivery()
            on_message = functools.partial(self._on_message, connection, side_channel)
            tag = channel.basic_consume(self.service, on_message)
            log.info("consuming %s (%s)", self.service, ", ".join(sorted(self.handlers)))
            while not self._stopping.is_set():
                connection.process_data_events(time_limit=0.25)
            channel.basic_cancel(tag)
            self._finish_in_hand(connection)
        finally:
            if connection.is_open:
                connection.close()

    def _finish_in_hand(self, connection: pika.BlockingConnection, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self._in_hand and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.05)

    # ---- per message ------------------------------------------------------------

    def _on_message(
        self, connection: Any, side: Any, channel: Any, method: Any, props: Any, body: bytes
    ) -> None:
        with self._lock:
            self._in_hand += 1
        self._pool.submit(self._handle, connection, side, channel, method, props, body)

    def _handle(self, connection: Any, side: Any, channel: Any, method: Any, props: Any, body: bytes) -> None:
        """Runs on a pool thread: decide the outcome, then settle on the I/O thread."""
        outcome = self.outcome_of(body, props.headers or {}, method.routing_key)
        settle = functools.partial(self._settle, side, channel, method, props, body, outcome)
        try:
            connection.add_callback_threadsafe(settle)
        except Exception:  # connection gone: the broker will redeliver the message
            with self._lock:
                self._in_hand -= 1

    def outcome_of(self, body: bytes, headers: dict[str, Any], routing_key: str) -> Outcome:
        attempt = int(headers.get(ATTEMPT_HEADER, 0)) + 1
        try:
            event = decode(body)
        except InvalidEvent as exc:
            EVENTS_CONSUMED.labels(routing_key, "dead_lettered").inc()
            return Outcome("dead_letter", reason="invalid", error=str(exc), attempt=attempt)
        handler = self.handlers.get(event.type)
        if handler is None:
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

    def _settle(
        self, side: Any, channel: Any, method: Any, props: Any, body: bytes, outcome: Outcome
    ) -> None:
        """Runs on the I/O thread: forward the message if needed, then ack it."""
        try:
            if not channel.is_open:
                return  # its connection dropped: the broker redelivers it
            if outcome.action != "ack":
                self._forward(side, props, body, method.routing_key, outcome)
            channel.basic_ack(method.delivery_tag)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            log.error("could not park message (%s); returning it to the queue", exc)
            channel.basic_nack(method.delivery_tag, requeue=True)
        finally:
            with self._lock:
                self._in_hand -= 1

    def _forward(self, side: Any, props: Any, body: bytes, routing_key: str, outcome: Outcome) -> None:
        headers = dict(props.headers or {})
        headers[ATTEMPT_HEADER] = outcome.attempt
        headers[ERROR_HEADER] = outcome.error[:1000]
        headers.setdefault("x-original-routing-key", routing_key)
        if outcome.action == "retry":
            delay = topology.RETRY_DELAYS_S[outcome.attempt - 1]
            exchange, key = "", topology.retry_queue(self.service, delay)
        else:
            headers[REASON_HEADER] = outcome.reason
            headers["x-dead-lettered-at"] = datetime.now(UTC).isoformat()
            exchange, key = topology.DEAD_LETTER_EXCHANGE, self.service
        side.basic_publish(
            exchange,
            key,
            body,
            pika.BasicProperties(
                content_type=props.content_type,
                delivery_mode=pika.DeliveryMode.Persistent,
                message_id=props.message_id,
                correlation_id=props.correlation_id,
                type=props.type,
                app_id=props.app_id,
                timestamp=props.timestamp,
                headers=headers,
            ),
            mandatory=True,
        )
