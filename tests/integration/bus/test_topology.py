"""Topology applied by many processes at the same moment: never a channel error; and the
exchange-to-exchange bindings through which Flower watches the Celery services."""

from __future__ import annotations

import threading
import time
from typing import Any

import pika
import pika.exceptions
import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from celery.events.event import get_exchange
from kombu import Connection

from harness.sandbox import Sandbox
from harness.waiting import wait_until
from infra.stack import core_topology
from shared import topology
from shared.celery_app import celery_app

STARTING_TOGETHER = 6


def test_processes_declaring_the_topology_at_the_same_moment_all_succeed(sandbox: Sandbox):
    services = ["orders", "payments", "dashboard"]
    ready = threading.Barrier(STARTING_TOGETHER, timeout=20)
    errors: list[BaseException] = []

    def start_up(service: str) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url))
        try:
            ready.wait()
            topology.declare_on(connection, topology.service_topology(service, ["order.placed"]))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=start_up, args=(services[i % len(services)],))
        for i in range(STARTING_TOGETHER)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url))
    try:
        for service in services:
            connection.channel().queue_declare(service, passive=True)  # raises if missing
    finally:
        connection.close()


def _receive(channel: Any, queue: str, timeout_s: float = 5) -> bytes | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, _, body = channel.basic_get(queue, auto_ack=True)
        if body is not None:
            return body
        time.sleep(0.05)
    return None


def _queue_on(channel: Any, exchange: str, routing_key: str = "") -> str:
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, exchange, routing_key=routing_key)
    return queue


def test_flower_s_broadcasts_reach_a_celery_service_and_its_task_events_reach_flower(sandbox: Sandbox):
    """What infra declares (core_topology) binds Celery's default exchanges, which Flower uses,
    to the payments workers' own: a broadcast on `celery.pidbox` lands in a queue on
    `payments.pidbox`, a task event on `payments.celeryev` in a queue on `celeryev`."""
    topology.apply(sandbox.amqp_url, core_topology())
    # the workers and Flower declare these exchanges too, with kombu's and Celery's arguments:
    # they must agree with infra's, or the declaration fails with PRECONDITION_FAILED
    with Connection(sandbox.amqp_url) as flower, Connection(sandbox.amqp_url_for("payments")) as worker:
        declarers = ((flower, "celery", "celeryev"), (worker, "payments", "payments.celeryev"))
        for connection, namespace, events in declarers:
            mailbox = Celery(namespace, set_as_current=False).control.mailbox
            mailbox._get_exchange(namespace, "fanout")(connection.default_channel).declare()
            get_exchange(connection, events)(connection.default_channel).declare()

    connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url))
    try:
        channel = connection.channel()
        workers = _queue_on(channel, "payments.pidbox")
        flower = _queue_on(channel, "celeryev", "#")
        channel.basic_publish("celery.pidbox", "", b'{"method": "enable_events"}')
        channel.basic_publish("payments.celeryev", "task.succeeded", b'{"type": "task-succeeded"}')
        assert _receive(channel, workers) == b'{"method": "enable_events"}'
        assert _receive(channel, flower) == b'{"type": "task-succeeded"}'
    finally:
        connection.close()


def test_a_service_cannot_broadcast_to_every_celery_service_through_flower_s_exchange(sandbox: Sandbox):
    topology.apply(sandbox.amqp_url, core_topology())
    connection = pika.BlockingConnection(pika.URLParameters(sandbox.amqp_url_for("payments")))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refusal:
            channel.basic_publish("celery.pidbox", "", b'{"method": "shutdown"}')
        assert refusal.value.reply_code == 403
    finally:
        if connection.is_open:
            connection.close()


def test_flower_s_inspection_reaches_a_payments_worker_and_gets_its_answer(sandbox: Sandbox):
    """A real worker of shared.celery_app, connected as the payments user, answers a ping sent
    the way Flower sends it (the administrator, Celery's default exchanges): its reply goes to
    `reply.celery.pidbox`, which its user may declare and write, never read."""
    topology.apply(sandbox.amqp_url, core_topology())
    worker = celery_app(sandbox.settings_for("payments"))
    flower = Celery("flower", broker=sandbox.amqp_url, set_as_current=False)
    with start_worker(worker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        replies = wait_until(
            lambda: flower.control.ping(timeout=1.0), 30, what="a worker's answer to the ping"
        )
    assert [next(iter(reply.values())) for reply in replies] == [{"ok": "pong"}]
