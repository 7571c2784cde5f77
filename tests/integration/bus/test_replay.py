"""Reading shop.events.log: history from the first offset or a timestamp, then live."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

from harness.sandbox import Sandbox
from harness.waiting import wait_until
from shared.envelope import Event
from shared.publisher import Publisher
from shared.replay import read_log
from tests.integration.bus.conftest import Broker, order_placed

CLOCK_MARGIN_S = 0.25


def test_replay_from_the_first_offset_returns_every_event_in_publish_order(
    sandbox: Sandbox, broker: Broker, publisher: Publisher
):
    broker.declare()
    events = [order_placed() for _ in range(300)]
    for start in range(0, len(events), 100):
        publisher.publish_many(events[start : start + 100])

    entries = list(read_log(sandbox.amqp_url, "first"))

    assert [event.id for _, event in entries] == [e.id for e in events]
    offsets = [offset for offset, _ in entries]
    assert offsets == sorted(offsets)


def test_replay_from_a_timestamp_skips_what_came_before(
    sandbox: Sandbox, broker: Broker, publisher: Publisher
):
    broker.declare()
    earlier = [order_placed() for _ in range(20)]
    publisher.publish_many(earlier)
    # The offset is a whole second, compared with the broker's chunk timestamps (ms, the broker's
    # clock, a few ms off ours): each batch stays CLOCK_MARGIN_S away from the boundary.
    boundary = math.ceil(time.time() + CLOCK_MARGIN_S)
    wait_until(lambda: time.time() >= boundary + CLOCK_MARGIN_S, what="the next second, and a margin")
    later = [order_placed() for _ in range(20)]
    publisher.publish_many(later)

    entries = list(read_log(sandbox.amqp_url, datetime.fromtimestamp(boundary, UTC)))

    assert [event.id for _, event in entries] == [e.id for e in later]


def test_a_reader_catches_up_then_follows_the_log_live(
    sandbox: Sandbox, broker: Broker, publisher: Publisher
):
    broker.declare()
    history = [order_placed() for _ in range(10)]
    publisher.publish_many(history)
    seen: list[Event] = []
    stop = threading.Event()

    def follow() -> None:
        for _offset, event in read_log(
            sandbox.amqp_url, "first", idle_timeout_s=None, should_stop=stop.is_set
        ):
            seen.append(event)

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        wait_until(lambda: len(seen) == len(history), what="history read")
        live = [order_placed() for _ in range(5)]
        publisher.publish_many(live)
        wait_until(lambda: len(seen) == len(history) + len(live), what="live events read")
    finally:
        stop.set()
        reader.join(timeout=10)
    assert [e.id for e in seen] == [e.id for e in history + live]
