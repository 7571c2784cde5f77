"""A consumer process killed or stopped mid-handler: no message lost, no effect twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from harness.sandbox import Sandbox
from harness.waiting import wait_until
from shared.publisher import Publisher
from shared.settings import Settings
from tests.integration.bus.conftest import SERVICE, Broker, order_placed

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def spawn_consumer(sandbox: Sandbox, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen]]:
    processes: list[subprocess.Popen] = []

    def spawn() -> subprocess.Popen:
        log = (tmp_path / f"consumer-{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.bus.consumer_app"],
            cwd=ROOT,
            env={**os.environ, **sandbox.env(), "PYTHONPATH": str(ROOT), "LOG_LEVEL": "INFO"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_a_consumer_killed_mid_handler_gets_the_message_redelivered_and_applied_once(
    broker: Broker, publisher: Publisher, spawn_consumer, redis_client: Redis, settings: Settings
):
    broker.declare()
    redis_client.set(settings.key("hold"), 1)
    first = spawn_consumer()
    event = order_placed()
    publisher.publish(event)
    wait_until(lambda: redis_client.llen(settings.key("applied")) == 1, what="effect applied, not acked")

    first.kill()
    first.wait(timeout=10)
    redis_client.delete(settings.key("hold"))
    second = spawn_consumer()

    wait_until(lambda: redis_client.llen(settings.key("finished")) == 1, what="redelivery handled")
    assert redis_client.get(settings.key("attempts", event.id)) == "2"
    assert redis_client.lrange(settings.key("effects"), 0, -1) == [event.id]
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
    assert broker.depth(SERVICE) == 0  # acked: nothing came back when the process left


def test_sigterm_lets_the_running_handler_finish_acks_it_and_exits_0(
    broker: Broker, publisher: Publisher, spawn_consumer, redis_client: Redis, settings: Settings
):
    broker.declare()
    redis_client.set(settings.key("hold"), 1)
    consumer = spawn_consumer()
    event = order_placed()
    publisher.publish(event)
    wait_until(lambda: redis_client.llen(settings.key("applied")) == 1, what="handler running")

    consumer.send_signal(signal.SIGTERM)
    redis_client.rpush(settings.key("release"), 1)

    assert consumer.wait(timeout=30) == 0
    assert redis_client.lrange(settings.key("finished"), 0, -1) == [event.id]
    assert redis_client.get(settings.key("attempts", event.id)) == "1"
    assert broker.depth(SERVICE) == 0
