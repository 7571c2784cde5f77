"""Watching a running stack without changing it: queue depths and consumers, sampled over time."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.process import BaseProcess
from typing import Any

import pika
import pika.exceptions
import requests

from harness.waiting import wait_until
from shared.broker import blocking_connection


def http_ok(url: str, timeout: float = 1.0) -> bool:
    """Does `url` answer 200 (a /readyz)? No answer is a no, not an error."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


class QueueProbe:
    """Reads queue depths and consumer counts with passive declares: it changes nothing.

    One pika connection, so one thread: each sampler and the main thread own their probe. The
    connection idles between reads, answering no heartbeats (5 s, shared.broker), so the broker
    may have dropped it meanwhile: a read on a lost connection opens a new one.
    """

    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url
        self._connection: pika.BlockingConnection | None = None
        self._channel = None

    def _open(self):
        if self._connection is None or self._connection.is_closed:
            self._connection = blocking_connection(self._amqp_url)
            self._channel = None
        if self._channel is None or self._channel.is_closed:
            self._channel = self._connection.channel()
        return self._channel

    def queue(self, name: str) -> tuple[int, int] | None:
        """(ready messages, consumers) of a queue, or None if it does not exist."""
        try:
            try:
                declared = self._open().queue_declare(name, passive=True)
            except pika.exceptions.AMQPConnectionError:  # dropped while idle: once more, anew
                self._connection = None
                declared = self._open().queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # 404: not declared (yet)
            self._channel = None
            return None
        return declared.method.message_count, declared.method.consumer_count

    def depth(self, name: str) -> int:
        found = self.queue(name)
        return found[0] if found else 0

    def consumers(self, name: str) -> int:
        found = self.queue(name)
        return found[1] if found else 0

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPConnectionError):  # already dropped
                self._connection.close()


def wait_for_consumers(
    amqp_url: str, consumers: Mapping[str, BaseProcess], what: str, timeout: float = 30
) -> None:
    """Until every queue has a consumer (a benchmark must not time its consumers' start-up);
    a RuntimeError at once if the process meant to consume one has died."""
    probe = QueueProbe(amqp_url)

    def consuming() -> bool:
        dead = [queue for queue, process in consumers.items() if not process.is_alive()]
        if dead:
            raise RuntimeError(f"{what} died before consuming {', '.join(dead)}")
        return all(probe.consumers(queue) >= 1 for queue in consumers)

    try:
        wait_until(consuming, timeout, 0.05, what, failure=RuntimeError)
    finally:
        probe.close()


class Sampler:
    """Calls `sample()` every `interval` seconds in its own thread and keeps (time, value) pairs."""

    def __init__(self, sample: Callable[[], Any], interval: float = 0.25) -> None:
        self._sample = sample
        self.interval = interval
        self.points: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        wait_until(lambda: self.points, 30, 0.05, "the first sample", failure=TimeoutError)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            try:
                self.points.append((started, self._sample()))
            except (requests.RequestException, pika.exceptions.AMQPError) as error:
                print(f"  (a sample failed: {error!r})", file=sys.stderr, flush=True)
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    @property
    def latest(self) -> Any:
        return self.points[-1][1]
