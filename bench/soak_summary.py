"""What a soak's samples say: memory growth per hour of each process, latency drift, lost orders;
and the plot.

The first fifth of the run (at most 5 minutes) is warm-up, left out of the judgement: caches,
connection pools and the dashboard's history window fill up then. After it:
- a process's memory *grows* when the least-squares line through its RSS rises, over the rest of
  the run, by more than MEMORY_NOISE_MIB or MEMORY_NOISE_FRACTION of its size, whichever is
  larger. Redis, RabbitMQ and the SMTP sink are reported, not judged: they are where things are
  kept, so they grow with the orders by design (Redis keeps every order, the broker the event
  log, the local mail server every email, which tests and benchmarks read back to check each
  was sent once);
- the latency *drifts* when the median placed → email of the orders placed in the last third is
  LATENCY_DRIFT_RATIO times that of the first third, and LATENCY_DRIFT_MS more.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.observer import Seen
from bench.placing import Placements
from harness.plots import pyplot
from harness.stats import percentiles

WARMUP_FRACTION, WARMUP_MAX_S = 0.2, 300.0
MEMORY_NOISE_MIB, MEMORY_NOISE_FRACTION = 8.0, 0.05
LATENCY_DRIFT_RATIO, LATENCY_DRIFT_MS = 1.5, 25.0
NOT_JUDGED = ("redis", "rabbitmq", "smtp-sink")  # stores that grow with the orders by design
LATENCY_WINDOWS = 20


@dataclass(frozen=True)
class Sample:
    at_s: float  # since the first order
    rss_mib: dict[str, float]  # by process type, its instances summed
    cpu_s: dict[str, float]  # cumulative, by process type
    queued: int  # messages in the shop's queues, ready and unacked
    placed: int  # orders placed so far


def summarize(
    settings: dict[str, Any], started: float, placements: Placements, seen: Seen, samples: list[Sample]
) -> dict[str, Any]:
    duration_s = samples[-1].at_s if samples else 0.0
    warmup_s = min(WARMUP_MAX_S, WARMUP_FRACTION * duration_s)
    measured = [s for s in samples if s.at_s >= warmup_s]
    notified = seen["notified"]
    latencies = [  # (placed at, seconds since the first order; placed → email, ms)
        (o.sent_at - started, 1000 * (notified[o.order_id][0] - o.sent_at))
        for o in placements.orders
        if o.order_id in notified
    ]
    memory = memory_growth(measured)
    latency = latency_drift(latencies, warmup_s, duration_s)
    lost = len(placements.orders) - sum(1 for o in placements.orders if o.order_id in notified)
    growing = sorted(name for name, m in memory.items() if m["grows"])
    return {
        "settings": settings,
        "orders": len(placements.orders),
        "lost": lost,
        "http_errors": placements.errors,
        "duration_s": round(duration_s, 1),
        "warmup_s": round(warmup_s, 1),
        "memory": {
            "total_rss_mib": {
                "after_warmup": round(sum(measured[0].rss_mib.values()), 1) if measured else 0.0,
                "last": round(sum(samples[-1].rss_mib.values()), 1) if samples else 0.0,
                "max": round(max((sum(s.rss_mib.values()) for s in samples), default=0.0), 1),
            },
            "by_process": memory,
        },
        "cpu_ms_per_order": cpu_per_order(measured),
        "latency_ms": latency,
        # POST /api/orders, from sending to the 201, for the orders placed after warm-up
        "intake_ms": percentiles(
            [1000 * o.intake_s for o in placements.orders if o.sent_at - started >= warmup_s]
        ),
        "queued": {
            "max": max((s.queued for s in samples), default=0),
            "last": samples[-1].queued if samples else 0,
        },
        "series": series(samples),
        "verdict": {
            "ok": lost == 0 and not growing and not latency["drifts"],
            "lost": lost,
            "growing": growing,
            "latency_drifts": latency["drifts"],
        },
    }


def memory_growth(measured: list[Sample]) -> dict[str, dict[str, Any]]:
    """Per process type: RSS after warm-up and at the end, the fitted growth per hour, and
    whether it grows (see the module's docstring)."""
    growth: dict[str, dict[str, Any]] = {}
    names = sorted({name for s in measured for name in s.rss_mib})
    for name in names:
        points = [(s.at_s, s.rss_mib[name]) for s in measured if name in s.rss_mib]
        if len(points) < 3:
            continue
        times, sizes = zip(*points, strict=True)
        slope_per_s = statistics.linear_regression(times, sizes).slope
        risen = slope_per_s * (times[-1] - times[0])
        judged = name not in NOT_JUDGED
        growth[name] = {
            "rss_mib_after_warmup": round(sizes[0], 1),
            "rss_mib_last": round(sizes[-1], 1),
            "growth_mib_per_h": round(3600 * slope_per_s, 1),
            "judged": judged,
            "grows": judged
            and risen > max(MEMORY_NOISE_MIB, MEMORY_NOISE_FRACTION * statistics.median(sizes)),
        }
    return growth


def cpu_per_order(measured: list[Sample]) -> dict[str, float]:
    """CPU ms per order placed after warm-up, by process type. A process that restarted (its
    cumulative CPU fell) counts from its restart on."""
    orders = measured[-1].placed - measured[0].placed if len(measured) > 1 else 0
    if orders <= 0:
        return {}
    used: dict[str, float] = {}
    for before, after in itertools.pairwise(measured):
        for name, cpu in after.cpu_s.items():
            used[name] = used.get(name, 0.0) + max(0.0, cpu - before.cpu_s.get(name, cpu))
    return {name: round(1000 * s / orders, 2) for name, s in sorted(used.items(), key=lambda item: -item[1])}


def latency_drift(latencies: list[tuple[float, float]], warmup_s: float, duration_s: float) -> dict[str, Any]:
    """Placed → email over the run in LATENCY_WINDOWS windows, and the first third (after
    warm-up) against the last."""
    width = max(1.0, duration_s / LATENCY_WINDOWS)
    windows = []
    for index in range(LATENCY_WINDOWS):
        inside = [ms for at, ms in latencies if index * width <= at < (index + 1) * width]
        if inside:
            windows.append({"from_s": round(index * width, 1), "orders": len(inside), **percentiles(inside)})
    third = (duration_s - warmup_s) / 3
    first = percentiles([ms for at, ms in latencies if warmup_s <= at < warmup_s + third])
    last = percentiles([ms for at, ms in latencies if at >= duration_s - third])
    ratio = last["p50"] / first["p50"] if first["p50"] else 0.0
    return {
        "windows": windows,
        "first_third": first,
        "last_third": last,
        "drift_ratio": round(ratio, 2),
        "drifts": ratio > LATENCY_DRIFT_RATIO and last["p50"] - first["p50"] > LATENCY_DRIFT_MS,
    }


def series(samples: list[Sample]) -> dict[str, Any]:
    """The samples as plottable columns: RSS and CPU % by process type, queued messages."""
    names = sorted({name for s in samples for name in s.rss_mib})
    cpu_percent: dict[str, list[float]] = {name: [] for name in names}
    for before, after in itertools.pairwise(samples):
        elapsed = max(1e-9, after.at_s - before.at_s)
        for name in names:
            spent = after.cpu_s.get(name, 0.0) - before.cpu_s.get(name, 0.0)
            cpu_percent[name].append(round(100 * max(0.0, spent) / elapsed, 1))
    return {
        "at_s": [round(s.at_s, 1) for s in samples],
        "rss_mib": {name: [round(s.rss_mib.get(name, 0.0), 1) for s in samples] for name in names},
        "cpu_percent": cpu_percent,
        "queued": [s.queued for s in samples],
        "placed": [s.placed for s in samples],
    }


def plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    figure, ((rss, cpu), (latency, queue)) = plt.subplots(2, 2, figsize=(16, 9))
    data = result["series"]
    minutes = [t / 60 for t in data["at_s"]]
    for name, sizes in sorted(data["rss_mib"].items(), key=lambda item: -max(item[1], default=0)):
        rss.plot(minutes, sizes, label=name)
    total = result["memory"]["total_rss_mib"]
    rss.set_yscale("log")  # the broker's hundreds of MiB beside the processes' tens
    rss.set_title(
        f"RSS by process type (MiB); all: {total['last']:,.0f} MiB at the end, max {total['max']:,.0f}"
    )
    for name, shares in sorted(data["cpu_percent"].items(), key=lambda item: -sum(item[1])):
        cpu.plot(minutes[1:], shares, label=name)
    cpu.set_title("CPU by process type (% of one core)")
    windows = result["latency_ms"]["windows"]
    for point in ("p50", "p99"):
        latency.plot(
            [w["from_s"] / 60 for w in windows], [w[point] for w in windows], marker="o", label=point
        )
    latency.set_title(
        f"placed → email (ms), drift ratio {result['latency_ms']['drift_ratio']} (last third / first)"
    )
    queue.plot(minutes, data["queued"], label="messages queued")
    queue.set_title(f"messages in the shop's queues; {result['orders']:,} orders, {result['lost']} lost")
    for axis in (rss, cpu, latency, queue):
        axis.axvline(result["warmup_s"] / 60, color="grey", linestyle=":", label="end of warm-up")
        axis.set_xlabel("minutes")
        axis.legend(fontsize=7, ncol=2)
    verdict = result["verdict"]
    figure.suptitle(
        f"Soak at {result['settings']['rate']} orders/s for {result['settings']['minutes']} min: "
        + (
            "flat"
            if verdict["ok"]
            else f"growing {verdict['growing']}, drifts {verdict['latency_drifts']}, lost {verdict['lost']}"
        )
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
