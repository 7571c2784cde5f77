"""The outbox relay process: publishes what the API and consumer stored (`python -m services.orders.relay`).

Reads batches from the outbox stream through a consumer group (so several relays share
the work), publishes each batch with all confirms in flight, and only then acknowledges
and deletes its entries. Entries a crashed relay read but never settled stay pending in
the group; any relay takes them over once they have been idle long enough. So an event
is published at least once, and only if its order was stored: a republish carries the
same event id, which consumers drop as a duplicate.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time

import pika
import pika.exceptions
from redis import RedisError, ResponseError

from services.orders.settings import SERVICE, OrdersSettings
from services.orders.store import Outbox, OutboxEntry
from shared import topology
from shared.broker import blocking_connection
from shared.envelope import Event, InvalidEvent, decode
from shared.logs import configure_logging
from shared.metrics import INSTANCE, start_flusher
from shared.publisher import Publisher, PublishError
from shared.tracing import start_tracing

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        *,
        name: str,
        batch_size: int,
        claim_idle_ms: int,
        block_ms: int = 1000,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.name = name
        self.batch_size = batch_size
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.stopping = threading.Event()

    def run(self) -> None:
        """Relay until stopped; a batch in hand is finished (or left pending) before returning."""
        next_claim = 0.0
        while not self.stopping.is_set():
            try:
                if time.monotonic() >= next_claim:
                    stale = self.outbox.claim_stale(self.name, self.claim_idle_ms, self.batch_size)
                    if stale:
                        log.warning("took over %d entries left pending by another relay", len(stale))
                        self.relay(stale)
                    if len(stale) < self.batch_size:
                        next_claim = time.monotonic() + self.claim_idle_ms / 2000
                    continue
                self.relay(self.outbox.read_new(self.name, self.batch_size, self.block_ms))
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.outbox.ensure_group()  # first start, or the stream was deleted
            except RedisError as exc:  # entries in hand stay pending and are taken over later
                log.warning("redis unavailable (%s); retrying in 1s", exc)
                self.stopping.wait(1.0)
        with contextlib.suppress(RedisError):  # a name left behind is only cosmetic
            self.outbox.leave(self.name)
        log.info("relay stopped")

    def stop(self) -> None:
        self.stopping.set()

    def relay(self, entries: list[OutboxEntry]) -> None:
        """Publish a batch with confirms, then settle it; retried until published or stopped."""
        if not entries:
            return
        publishable: list[OutboxEntry] = []
        events: list[Event] = []
        for entry in entries:
            try:
                events.append(decode(entry.event_json.encode()))
                publishable.append(entry)
            except InvalidEvent as exc:
                log.error("parking outbox entry %s: %s", entry.entry_id, exc)
                self.outbox.park(entry, str(exc))
        delay = 0.1
        while events:
            try:
                self.publisher.publish_many(events)
                break
            except PublishError as exc:
                if self.stopping.wait(delay):
                    log.warning("stopping with %d unpublished entries left pending: %s", len(events), exc)
                    return
                log.warning("publishing %d events failed (%s); retrying in %.1fs", len(events), exc, delay)
                delay = min(delay * 2, 5.0)
        if publishable:
            self.outbox.settle([entry.entry_id for entry in publishable])


def shared_topology_ready(amqp_url: str, stopping: threading.Event) -> bool:
    """The exchange and the event log must exist, so every published event is routable: infra
    declares them (orders may not), the relay waits until they are there."""
    delay = 0.2
    while not stopping.is_set():
        try:
            connection = blocking_connection(amqp_url)
            try:
                topology.declare_on(connection, topology.shared_topology_checked())
                return True
            finally:
                connection.close()
        except (pika.exceptions.AMQPError, OSError) as exc:
            log.warning("broker not reachable (%s); retrying in %.1fs", exc, delay)
            stopping.wait(delay)
            delay = min(delay * 2, 5.0)
    return False


def main() -> int:
    settings = OrdersSettings(service=SERVICE)
    configure_logging(settings, "relay")
    start_tracing(SERVICE, "relay")
    redis = settings.connect_redis()
    stop_flusher = start_flusher(redis, settings.key("metrics"))
    publisher = Publisher(settings.amqp_url, name=f"{SERVICE}-relay")
    relay = OutboxRelay(
        Outbox(redis, settings),
        publisher,
        name=INSTANCE,
        batch_size=settings.orders_relay_batch,
        claim_idle_ms=settings.orders_relay_claim_idle_ms,
    )
    signal.signal(signal.SIGTERM, lambda *_: relay.stop())
    signal.signal(signal.SIGINT, lambda *_: relay.stop())
    if shared_topology_ready(settings.amqp_url, relay.stopping):
        log.info("relaying %s as %s", relay.outbox.stream, relay.name)
        relay.run()
    publisher.close()
    stop_flusher.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
