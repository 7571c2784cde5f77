"""Where the work goes: the messages the broker handled, the commands Redis ran and the lines
the processes logged."""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import redis
import requests

from harness.sandbox import REDIS_URL
from harness.waiting import wait_until

MANAGEMENT_URL = os.environ.get("MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672")
STATS_INTERVAL_S = 5.0  # RabbitMQ's collect_statistics_interval: its counts lag by up to this


def broker_traffic(vhost: str) -> dict[str, int]:
    """Messages handled in the vhost so far: published to exchanges; and, over the shop's
    queues (the observer's server-named queue left out), enqueued (a message counts once per
    queue it was routed to, the event log stream included), delivered and acknowledged."""
    api, name = f"{MANAGEMENT_URL}/api", quote(vhost, safe="")
    vhost_stats = requests.get(f"{api}/vhosts/{name}", timeout=10).json().get("message_stats", {})
    totals = {"published": vhost_stats.get("publish", 0), "enqueued": 0, "delivered": 0, "acked": 0}
    for queue in requests.get(f"{api}/queues/{name}", timeout=10).json():
        if queue["name"].startswith("amq.gen-"):
            continue
        stats = queue.get("message_stats", {})
        totals["enqueued"] += stats.get("publish", 0)
        totals["delivered"] += stats.get("deliver_get", 0)
        totals["acked"] += stats.get("ack", 0)
    return totals


def settled_broker_traffic(vhost: str) -> dict[str, int]:
    """The counts once the management plugin has caught up: two samples a statistics interval
    apart agree (at most four intervals: then the last sample)."""
    samples: list[dict[str, int]] = []

    def caught_up() -> bool:
        samples.append(broker_traffic(vhost))
        return len(samples) > 1 and samples[-1] == samples[-2]

    interval = STATS_INTERVAL_S + 0.5
    wait_until(caught_up, 3.5 * interval, interval, failure=None)  # samples at 0, 1, 2, 3, 4 intervals
    return samples[-1]


def redis_commands() -> Counter[str]:
    """Commands the Redis server ran so far, by name (those inside Lua scripts included)."""
    stats = redis.Redis.from_url(REDIS_URL).info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()})


class LogLines:
    """Lines the stack's processes write to their logs between start() and stop(), by process
    type (`payments-worker-0.log` and `-1.log` are both `payments-worker`). supervisord rotates a
    log at 10 MB (infra/dev/config.py), keeping one: a log whose file was replaced meanwhile is
    read on from where it was in `.log.1`, then the new one whole."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self._at: dict[Path, tuple[int, int]] = {}  # log -> (inode, size) at start()

    def start(self) -> None:
        self._at = {path: _inode_and_size(path) for path in self._logs.glob("*.log")}

    def stop(self) -> Counter[str]:
        lines: Counter[str] = Counter()
        for path in self._logs.glob("*.log"):
            inode, offset = self._at.get(path, (None, 0))
            count = 0
            if inode is not None and _inode_and_size(path)[0] != inode:
                rotated = path.with_name(path.name + ".1")
                count += _lines_after(rotated, offset) if _inode_and_size(rotated)[0] == inode else 0
                offset = 0
            lines[re.sub(r"-\d+$", "", path.stem)] += count + _lines_after(path, offset)
        return lines


def _inode_and_size(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size


def _lines_after(path: Path, offset: int) -> int:
    with path.open("rb") as log:
        log.seek(offset)
        return sum(chunk.count(b"\n") for chunk in iter(lambda: log.read(1 << 20), b""))


def traffic_per_order(
    broker: dict[str, int],
    commands: Counter[str],
    cpu_by_process: dict[str, float],
    log_lines: Counter[str],
    orders: int,
) -> dict[str, object]:
    """The profile of the flat-out phase, per order: the figures that show where the work goes."""
    return {
        "cpu_ms_by_process": {
            name: round(1000 * seconds / orders, 2)
            for name, seconds in sorted(cpu_by_process.items(), key=lambda item: -item[1])
            if 1000 * seconds / orders >= 0.05  # idle processes (the read APIs) left out
        },
        "broker_messages": {kind: round(count / orders, 2) for kind, count in broker.items()},
        "redis_commands": round(commands.total() / orders, 1),
        "redis_commands_by_name": {name: round(n / orders, 2) for name, n in commands.most_common(10)},
        "log_lines": round(log_lines.total() / orders, 1),
        "log_lines_by_process": {name: round(n / orders, 2) for name, n in log_lines.most_common() if n},
    }
