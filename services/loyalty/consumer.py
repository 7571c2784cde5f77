"""Loyalty's consumer process: declare its queue, backfill from the log, then go live.

The queue is declared first so nothing published from then on is missed; the backfill
then reads the `shop.events.log` stream up to the present (resuming from the last
offset it read, after a restart); finally the live queue is consumed. Events seen by
both paths are counted once: the effects are keyed by order id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from services.loyalty.bootstrap import SERVICE, bootstrap
from services.loyalty.points import LoyaltyStore
from shared import topology
from shared.consumer import EventConsumer
from shared.contract import publisher_users
from shared.logs import configure_logging, event_context
from shared.metrics import start_flusher
from shared.replay import read_log
from shared.settings import Settings

log = logging.getLogger(__name__)
BACKFILL_OVERLAP = timedelta(seconds=5)
CHECKPOINT_EVERY = 500


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
    `senders`: only events their owners published count (read_log).
    """
    position = store.log_position()
    start = position + 1 if position is not None else "first"
    applied = unsaved = 0
    last_read = None
    for offset, event in read_log(amqp_url, start, idle_timeout_s=2.0, senders=senders):
        if until is not None and event.time > until:
            break
        handler = handlers.get(event.type)
        if handler is not None:
            with event_context(event):
                handler(event)
            applied += 1
            unsaved += 1
        last_read = offset
        if unsaved >= CHECKPOINT_EVERY:
            store.checkpoint(last_read, unsaved)
            unsaved = 0
    if last_read is not None:
        store.checkpoint(last_read, unsaved)
    return applied


def main() -> None:
    settings = Settings(service=SERVICE)
    configure_logging(settings, "consumer")
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
