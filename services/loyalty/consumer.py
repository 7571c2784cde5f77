"""Loyalty's consumer process: declare its queue, backfill from the log, then go live.

The queue is declared first so nothing published from then on is missed; the backfill
then reads the `shop.events.log` stream up to the present (resuming from the last
offset it read, after a restart); finally the live queue is consumed. Events seen by
both paths are counted once: the effects are keyed by order id. What the backfill cannot
handle is parked in `loyalty.dlq` with its reason, as the live consumer would park it, and
the backfill goes on past it.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pika
import pika.exceptions
import redis.exceptions

from services.loyalty.bootstrap import SERVICE, bootstrap
from services.loyalty.points import LoyaltyStore
from shared import topology
from shared.broker import blocking_connection, broker_user
from shared.consumer import Delivery, EventConsumer, Outcome, PermanentError, move
from shared.contract import publisher_users
from shared.logs import configure_logging, event_context
from shared.metrics import start_flusher
from shared.publisher import event_message
from shared.replay import Refused, read_log
from shared.settings import Settings
from shared.tracing import start_tracing

log = logging.getLogger(__name__)
BACKFILL_OVERLAP = timedelta(seconds=5)
CHECKPOINT_EVERY = 500
# Redis out of reach is no fault of the event: stop (and resume from the checkpoint on restart)
# rather than park the whole history.
_OUTAGES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def declare_own_queue(amqp_url: str, event_types: list[str]) -> None:
    topology.apply(amqp_url, topology.service_topology(SERVICE, event_types))


def backfill(
    amqp_url: str, store, handlers, until: datetime | None = None, senders: Mapping[str, str] | None = None
) -> int:
    """Apply every past event of interest from the log; returns how many were applied.

    Stops at the end of the log, or at the first event published after `until` (by then
    the live queue holds everything newer: under steady traffic the log never goes quiet).
    Progress is saved every CHECKPOINT_EVERY events and at the end, not per event: after a
    crash, reading a few hundred events again is harmless (effects are keyed by order id).
    `senders`: only events their owners published count (read_log). An entry that is invalid,
    forged, or that its handler fails on is parked in the DLQ (`invalid`, `forged`, `rejected`
    for a PermanentError, `backfill-error` otherwise) and counts as read.
    """
    position = store.log_position()
    start = position + 1 if position is not None else "first"
    applied = unsaved = 0
    last_read = None
    with _dead_letters(amqp_url) as park:

        def refused(entry: Delivery, outcome: Outcome) -> None:
            nonlocal last_read
            park(entry, outcome)
            last_read = entry.tag

        for offset, event in read_log(amqp_url, start, idle_timeout_s=2.0, senders=senders, refused=refused):
            if until is not None and event.time > until:
                break
            handler = handlers.get(event.type)
            if handler is not None:
                with event_context(event):
                    try:
                        handler(event)
                        applied += 1
                        unsaved += 1
                    except _OUTAGES:
                        raise
                    except Exception as exc:
                        log.exception("parking %s %s the backfill could not handle", event.type, event.id)
                        park(_as_delivery(offset, event), _failure(exc))
            last_read = offset
            if unsaved >= CHECKPOINT_EVERY:
                store.checkpoint(last_read, unsaved)
                unsaved = 0
    if last_read is not None:
        store.checkpoint(last_read, unsaved)
    return applied


@contextlib.contextmanager
def _dead_letters(amqp_url: str) -> Iterator[Refused]:
    """Park log entries in loyalty's DLQ, as the live consumer moves messages (shared.consumer.move),
    on a confirm-mode channel opened only if something needs parking. The connection idles
    while the backfill reads: before each use it answers the heartbeats due, and if the broker
    dropped it meanwhile (or its node went away), a new one is opened, to any node."""
    user = broker_user(amqp_url)
    connection: pika.BlockingConnection | None = None
    channel = None

    def park(entry: Delivery, outcome: Outcome) -> None:
        nonlocal connection, channel
        if connection is not None:
            with contextlib.suppress(pika.exceptions.AMQPConnectionError):
                connection.process_data_events()
        if connection is None or connection.is_closed:
            connection = blocking_connection(amqp_url)
            channel = connection.channel()
            channel.confirm_delivery()
        if not move(channel, SERVICE, user, entry, outcome):
            raise RuntimeError(
                f"could not park log entry {entry.tag} in {topology.dead_letter_queue(SERVICE)}"
            )

    try:
        yield park
    finally:
        if connection is not None and connection.is_open:
            connection.close()


def _as_delivery(offset: int, event) -> Delivery:
    message = event_message(event)
    return Delivery(offset, message.routing_key, message.properties, message.body)


def _failure(exc: Exception) -> Outcome:
    reason = "rejected" if isinstance(exc, PermanentError) else "backfill-error"
    return Outcome("dead_letter", reason, "".join(traceback.format_exception_only(exc)).strip())


def main() -> None:
    settings = Settings(service=SERVICE)
    configure_logging(settings, "consumer")
    start_tracing(SERVICE, "consumer")
    redis = settings.connect_redis()
    store = LoyaltyStore(redis, settings)
    handlers = bootstrap(settings, redis, store=store).events
    start_flusher(redis, settings.key("metrics"))
    declare_own_queue(settings.amqp_url, list(handlers))
    # Events of the last seconds before the declare may still be in flight to the log; the
    # overlap they create with the live queue is harmless: effects are keyed by order id.
    caught_up_at = datetime.now(UTC) + BACKFILL_OVERLAP
    senders = publisher_users(settings.amqp_user, SERVICE)
    backfilled = backfill(settings.amqp_url, store, handlers, until=caught_up_at, senders=senders)
    log.info("backfilled %d events from %s", backfilled, topology.EVENT_LOG)

    def counted(handler):
        def live(event):
            handler(event)
            store.count("live")

        return live

    EventConsumer(SERVICE, {t: counted(h) for t, h in handlers.items()}, settings).run()


if __name__ == "__main__":
    main()
