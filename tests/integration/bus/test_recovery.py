"""The broker drops every connection in the middle of a run: both sides recover."""

from __future__ import annotations

import threading

from redis import Redis

from harness.sandbox import Sandbox, rabbitmqctl
from harness.waiting import wait_until
from shared.envelope import Event
from shared.publisher import Publisher
from shared.settings import Settings
from tests.integration.bus.conftest import Broker, order_placed, record_with_apply_once

BATCH = 50
BATCHES_AFTER_THE_CUT = 10


def connections(sandbox: Sandbox) -> set[str]:
    """Ids of the vhost's open connections (the publisher's and the consumer's)."""
    rows = rabbitmqctl("list_connections", "--no-table-headers", "vhost", "pid").splitlines()
    return {pid for vhost, pid in (row.split("\t") for row in rows) if vhost == sandbox.vhost}


def test_after_close_all_connections_every_confirmed_event_is_processed_exactly_once(
    sandbox: Sandbox,
    broker: Broker,
    publisher: Publisher,
    start_consumer,
    redis_client: Redis,
    settings: Settings,
):
    broker.declare()
    handled: list[str] = []

    def handle(event: Event) -> None:
        handled.append(event.id)
        record_with_apply_once(redis_client, settings, event)

    start_consumer({"order.placed": handle}, prefetch=50)
    confirmed: list[str] = []
    cut = threading.Event()
    failures: list[BaseException] = []

    def publish_until_well_past_the_cut() -> None:
        after_cut = 0
        try:
            while after_cut < BATCHES_AFTER_THE_CUT:
                batch = [order_placed() for _ in range(BATCH)]
                publisher.publish_many(batch)  # returns only once every event is confirmed
                confirmed.extend(e.id for e in batch)
                after_cut += cut.is_set()
        except BaseException as exc:
            failures.append(exc)

    producer = threading.Thread(target=publish_until_well_past_the_cut)
    producer.start()
    wait_until(lambda: len(handled) >= 200, what="traffic flowing before the cut")
    before = connections(sandbox)
    # vhost-scoped: the broker is shared with other test runs
    rabbitmqctl("close_all_connections", "--vhost", sandbox.vhost, "test: the broker drops everyone")
    cut.set()
    producer.join(timeout=60)

    assert not failures, failures

    def reconnected() -> set[str] | None:
        now = connections(sandbox)
        return now if len(now) >= 2 else None

    after = wait_until(reconnected, what="publisher and consumer reconnected")
    assert len(before) >= 2
    assert not before & after, "every connection was cut and opened again"
    effects_key = settings.key("effects")
    wait_until(lambda: redis_client.llen(effects_key) >= len(confirmed), timeout=30, what="all processed")
    effects = redis_client.lrange(effects_key, 0, -1)
    assert sorted(effects) == sorted(set(confirmed)), "every confirmed event processed, none twice"
    assert len(handled) >= len(effects)
