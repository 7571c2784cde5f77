"""When did each order become terminal, and when was its email sent: an observer queue on the
shop's exchange, read in a child process so the benchmark's own threads do not slow it down."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

import pika

from harness.waiting import wait_until
from shared.topology import EVENTS_EXCHANGE

OBSERVED = {"order.confirmed": "terminal", "order.cancelled": "terminal", "notification.sent": "notified"}
Seen = dict[str, dict[str, list[float]]]  # kind ("terminal", "notified") → order id → timestamps


def observe(amqp_url: str, parent: Connection) -> None:
    """Child process: timestamps outcome and notification.sent events as they are published.

    An exclusive, server-named queue: a measuring tool, not part of the shop's topology.
    The parent asks for counts ("count") and finally for every timestamp ("dump").
    """
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    for routing_key in OBSERVED:
        channel.queue_bind(queue, EVENTS_EXCHANGE, routing_key)
    seen: Seen = {kind: {} for kind in set(OBSERVED.values())}

    def on_message(_ch: object, _method: object, _props: object, body: bytes) -> None:
        now = time.time()
        event = json.loads(body)
        seen[OBSERVED[event["type"]]].setdefault(event["data"]["order_id"], []).append(now)

    channel.basic_consume(queue, on_message, auto_ack=True)
    parent.send("ready")
    while True:
        connection.process_data_events(time_limit=0.05)
        if parent.poll():
            if parent.recv() == "count":
                parent.send({kind: len(orders) for kind, orders in seen.items()})
            else:
                parent.send(seen)
                break
    connection.close()


class Observer:
    def __init__(self, amqp_url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._child, child_end = ctx.Pipe()
        self.process = ctx.Process(target=observe, args=(amqp_url, child_end), daemon=True)
        self.process.start()
        if not self._child.poll(30):
            raise RuntimeError("the observer did not start")
        self._child.recv()

    def counts(self) -> dict[str, int]:
        self._child.send("count")
        return self._child.recv()

    def wait_for(self, placed: int, timeout: float, progress: Callable[[str], None]) -> dict[str, int]:
        """The counts once `placed` orders are terminal and notified, or as they stand at the
        timeout (the summary then counts the missing ones as lost); progress every 5 s."""
        reported_at = time.monotonic()

        def all_in() -> dict[str, int] | None:
            nonlocal reported_at
            counts = self.counts()
            if counts["notified"] >= placed and counts["terminal"] >= placed:
                return counts
            if time.monotonic() - reported_at > 5:
                progress(f"  {counts['terminal']} terminal, {counts['notified']} notified of {placed}")
                reported_at = time.monotonic()
            return None

        counts = wait_until(all_in, timeout, 0.2, failure=None)
        if counts is None:
            counts = self.counts()
            progress(f"gave up waiting: {counts} of {placed}")
        return counts

    def dump(self) -> Seen:
        self._child.send("dump")
        seen = self._child.recv()
        self.process.join(timeout=10)
        return seen
