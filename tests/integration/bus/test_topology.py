"""Topology applied by many processes at the same moment: never a channel error."""

from __future__ import annotations

import threading

import pika

from harness.sandbox import Sandbox
from shared import topology

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
