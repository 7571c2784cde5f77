"""Prometheus metrics for a service whose processes live in separate containers.

Why not prometheus_client's multiprocess mode: it shares files on one host and keys
them by pid, which collides across containers (every container's pid is 1). Each
process keeps ordinary prometheus_client metrics and a background thread copies
their current values into the service's own Redis every second (one hash per
process, expiring when the process is gone). The service's web process serves the
sum over all its live processes at /metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_PUBLISHED = Counter(
    "shop_events_published", "Events confirmed by the broker", ["type"], registry=PROCESS_REGISTRY
)
EVENTS_CONSUMED = Counter(
    "shop_events_consumed",
    "Events handled, by outcome (ok, duplicate, retried, dead_lettered)",
    ["type", "outcome"],
    registry=PROCESS_REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "shop_handler_seconds",
    "Time spent in an event handler",
    ["type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=PROCESS_REGISTRY,
)
TASKS = Counter("shop_tasks", "Celery tasks run, by outcome", ["task", "outcome"], registry=PROCESS_REGISTRY)
ORDER_STAGE_SECONDS = Histogram(
    "shop_order_stage_seconds",
    "Time from an order's placing to a later stage of it: confirmed, emailed",
    ["stage"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=PROCESS_REGISTRY,
)

INSTANCE = f"{socket.gethostname()}-{os.getpid()}"

_EXPIRY_S = 30


def observe_order_stage(stage: str, placed_at: datetime, reached_at: datetime) -> None:
    """One order reached `stage`: the time since it was placed, by the clocks of the two
    processes (never below zero, should they disagree)."""
    ORDER_STAGE_SECONDS.labels(stage).observe(max(0.0, (reached_at - placed_at).total_seconds()))


def start_flusher(redis: Any, key: str, interval_s: float = 1.0) -> threading.Event:
    """Copy this process's metrics to `<key>:<instance>` until the returned event is set."""
    stop = threading.Event()

    def flush_forever() -> None:
        while not stop.wait(interval_s):
            flush(redis, key)
        flush(redis, key)

    threading.Thread(target=flush_forever, name="metrics-flusher", daemon=True).start()
    return stop


def flush(redis: Any, key: str) -> None:
    samples = [
        [s.name, s.labels, s.value, metric.type, metric.documentation]
        for metric in PROCESS_REGISTRY.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    ]
    with contextlib.suppress(Exception):  # metrics must never take a process down
        redis.set(f"{key}:{INSTANCE}", json.dumps(samples), ex=_EXPIRY_S)


class ServiceMetrics(Collector):
    """Sums the samples every live process of the service wrote to Redis."""

    def __init__(self, redis: Any, key: str) -> None:
        self._redis = redis
        self._key = key

    def collect(self) -> Iterator[Metric]:
        keys = list(self._redis.scan_iter(f"{self._key}:*", count=500))
        totals: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        families: dict[str, tuple[str, str]] = {}
        for blob in self._redis.mget(keys) if keys else []:
            for name, labels, value, mtype, doc in json.loads(blob or "[]"):
                family = _family(name, mtype)
                families.setdefault(family, (mtype, doc))
                totals[(family, name, tuple(sorted(labels.items())))] += value
        metrics = {f: Metric(f, doc, mtype) for f, (mtype, doc) in families.items()}
        for (family, name, labels), value in sorted(totals.items()):
            metrics[family].add_sample(name, dict(labels), value)
        yield from metrics.values()


def _family(name: str, mtype: str) -> str:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for suffix in suffixes.get(mtype, ()):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
