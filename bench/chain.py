"""The ceiling for the shop's hops on this machine: a bare pika chain of the same events.

    order.placed → payment.authorized → order.confirmed → notification.sent

Three bare Python processes, one per hop, each a plain pika consumer on its own quorum
queue (persistent messages, manual acks): per message one Redis write, one publish of
the next event with a publisher confirm (one round trip, the straightforward way), then
the ack. A driver publishes the `order.placed` events (confirmed) as fast as it can and
a sink takes the `notification.sent` events. No outbox, no idempotency, no Celery, no
SMTP, no HTTP: what is left is the broker and Redis work every order needs at least.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import time
import uuid
from collections.abc import Callable
from multiprocessing.connection import Connection

import pika
import psutil
import redis

from bench import cpu_time
from harness.probe import wait_for_consumers

EXCHANGE = "chain.events"
HOPS = (
    ("chain.payments", "order.placed", "payment.authorized"),
    ("chain.orders", "payment.authorized", "order.confirmed"),
    ("chain.notifications", "order.confirmed", "notification.sent"),
)
SINK = ("chain.sink", "notification.sent")
MESSAGES_PER_ORDER = len(HOPS) + 1  # enqueued and delivered: one per hop, one to the sink
PREFETCH = 100
QUORUM = {"x-queue-type": "quorum"}
PERSISTENT = pika.BasicProperties(
    content_type="application/cloudevents+json", delivery_mode=pika.DeliveryMode.Persistent
)


def _declare(amqp_url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.exchange_declare(EXCHANGE, "topic", durable=True)
    for queue, routing_key, *_ in (*HOPS, SINK):
        channel.queue_declare(queue, durable=True, arguments=QUORUM)
        channel.queue_bind(queue, EXCHANGE, routing_key)
    connection.close()


def _placed(order_id: str) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "chain",
            "type": "order.placed",
            "time": time.time(),
            "subject": order_id,
            "datacontenttype": "application/json",
            "data": {
                "order_id": order_id,
                "customer_email": "bench@example.com",
                "items": [{"sku": "SKU-1", "qty": 1, "unit_price_cents": 1250}],
                "total_cents": 1250,
                "currency": "EUR",
                "payment_token": "tok_visa",
            },
        }
    ).encode()


def hop(amqp_url: str, redis_url: str, prefix: str, queue: str, next_type: str) -> None:
    """One hop: consume, write to Redis, publish the next event with a confirm, ack."""
    store = redis.Redis.from_url(redis_url)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_qos(prefetch_count=PREFETCH)

    def on_message(_ch: object, method: object, _props: object, body: bytes) -> None:
        event = json.loads(body)
        order_id = event["data"]["order_id"]
        store.set(f"{prefix}{queue}:{order_id}", event["id"], ex=3600)
        event.update(id=str(uuid.uuid4()), type=next_type, time=time.time())
        channel.basic_publish(EXCHANGE, next_type, json.dumps(event).encode(), PERSISTENT, mandatory=True)
        channel.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]

    channel.basic_consume(queue, on_message)
    channel.start_consuming()


def acknowledge(amqp_url: str, queue: str, count: int, prefetch: int, on_last: Callable[[], None]) -> None:
    """Acknowledge `count` messages of `queue`, calling `on_last` as the last one arrives: the
    end of a measured run (this chain's sink, and raw pika in bench/bus.py)."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    seen = 0

    def on_message(_ch: object, method: object, _props: object, _body: bytes) -> None:
        nonlocal seen
        channel.basic_ack(method.delivery_tag)  # type: ignore[attr-defined]
        seen += 1
        if seen == count:
            on_last()
            channel.stop_consuming()

    channel.basic_consume(queue, on_message)
    channel.start_consuming()
    connection.close()


def sink(amqp_url: str, count: int, done: Connection) -> None:
    acknowledge(amqp_url, SINK[0], count, PREFETCH, lambda: done.send(time.time()))


def measure(
    amqp_url: str,
    redis_url: str,
    prefix: str,
    orders: int,
    window: Callable[[], contextlib.AbstractContextManager[object]] = contextlib.nullcontext,
) -> dict[str, float]:
    """Orders per second through the chain: first `order.placed` sent → last `notification.sent` in,
    and the CPU seconds the chain's processes (driver included, start-up left out) took.
    `window` wraps the measured part, for measuring more around it (the broker's CPU)."""
    _declare(amqp_url)
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    children = [
        ctx.Process(target=hop, args=(amqp_url, redis_url, prefix, queue, next_type), daemon=True)
        for queue, _routing_key, next_type in HOPS
    ]
    children.append(ctx.Process(target=sink, args=(amqp_url, orders, sender), daemon=True))
    for child in children:
        child.start()
    try:
        queues = [queue for queue, *_ in (*HOPS, SINK)]
        wait_for_consumers(amqp_url, dict(zip(queues, children, strict=True)), "the chain's consumers")
        start_up = sum(cpu_time.of_process(psutil.Process(child.pid)) for child in children)
        reaped_before = cpu_time.of_reaped_children()
        with window():
            driver_before = time.thread_time()
            connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
            channel = connection.channel()
            channel.confirm_delivery()
            started = time.time()
            for index in range(orders):
                channel.basic_publish(
                    EXCHANGE, "order.placed", _placed(f"c-{index}"), PERSISTENT, mandatory=True
                )
            connection.close()
            if not receiver.poll(timeout=max(120.0, orders / 20)):
                raise RuntimeError("the chain did not deliver every order")
            finished = receiver.recv()
            driver_s = time.thread_time() - driver_before
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
            child.join()  # reaped: its CPU, to its last instant, is in RUSAGE_CHILDREN
    hops_s = cpu_time.of_reaped_children() - reaped_before - start_up
    return {
        "orders": orders,
        "seconds": finished - started,
        "orders_per_s": orders / (finished - started),
        "cpu_s": driver_s + hops_s,
    }
