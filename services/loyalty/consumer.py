"""Loyalty's consumer process: declare its queue, backfill from the log, then go live.

The queue is declared first so nothing published from then on is missed; the backfill
then reads the `shop.events.log` stream up to the present (resuming from the last
offset it read, after a restart); finally the live queue is consumed. Events seen by
both paths are counted once: the effects are keyed by order id.
"""

from __future__ import annotations

import logging

import pika

from services.loyalty.bootstrap import SERVICE, bootstrap
from shared import topology
from shared.consumer import EventConsumer
from shared.logs import configure_logging, event_context
from shared.metrics import start_flusher
from shared.replay import read_log
from shared.settings import load_settings

log = logging.getLogger(__name__)


def declare_own_queue(amqp_url: str, event_types: list[str]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        topology.declare_on(connection, topology.service_topology(SERVICE, event_types))
    finally:
        connection.close()


def backfill(amqp_url: str, store, handlers) -> int:
    """Apply every past event of interest from the log; returns how many were read."""
    position = store.log_position()
    start = position + 1 if position is not None else "first"
    seen = 0
    for offset, event in read_log(amqp_url, start, idle_timeout_s=2.0):
        handler = handlers.get(event.type)
        if handler is not None:
            with event_context(event):
                handler(event)
            store.count("backfilled")
            seen += 1
        store.remember_log_position(offset)
    return seen


def main() -> None:
    settings = load_settings(SERVICE)
    configure_logging(SERVICE, "consumer")
    store, handlers = bootstrap(settings)
    start_flusher(store.redis, settings.key("metrics"))
    declare_own_queue(settings.amqp_url, list(handlers))
    log.info("backfilled %d events from %s", backfill(settings.amqp_url, store, handlers), topology.EVENT_LOG)

    def counted(handler):
        def live(event):
            handler(event)
            store.count("live")

        return live

    EventConsumer(SERVICE, {t: counted(h) for t, h in handlers.items()}, settings).run()


if __name__ == "__main__":
    main()
