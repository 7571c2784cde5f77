"""A test's own view of `shop.events` (an exclusive queue), and whether a sandbox is idle."""

from __future__ import annotations

import collections

import pika
import pika.exceptions

from harness.waiting import wait_until
from shared import topology
from shared.envelope import Event, decode


class BusObserver:
    """Bind before acting: everything published from then on is seen, in publish order."""

    def __init__(self, amqp_url: str, binding: str = "#") -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self.channel = self.connection.channel()
        topology.declare(self.channel, topology.shared_topology())
        self.queue = self.channel.queue_declare("", exclusive=True).method.queue
        self.channel.queue_bind(self.queue, topology.EVENTS_EXCHANGE, routing_key=binding)
        self.seen: list[Event] = []

    def drain(self) -> list[Event]:
        while True:
            method, _props, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.seen
            self.seen.append(decode(body))

    def of_order(self, order_id: str) -> list[Event]:
        return [e for e in self.drain() if e.subject == order_id]

    def of_type(self, event_type: str) -> list[Event]:
        return [e for e in self.drain() if e.type == event_type]

    def wait_for(self, event_type: str, count: int, timeout: float = 15) -> list[Event]:
        """At least `count` events of the type; returns all of them seen so far."""
        return wait_until(
            lambda: len(self.of_type(event_type)) >= count and self.of_type(event_type),
            timeout,
            what=f"{count} {event_type}",
        )

    def ids_by_count(self, event_type: str) -> collections.Counter[str]:
        return collections.Counter(e.id for e in self.of_type(event_type))

    def close(self) -> None:
        if self.connection.is_open:
            self.connection.close()


def queues_declared(amqp_url: str, names: tuple[str, ...]) -> bool:
    """Orders published before a subscriber's queue exists never reach it: wait for all of them."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        for name in names:
            connection.channel().queue_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()
