"""The soak's judgement on made-up samples: memory that grows against memory that only wobbles,
latency that drifts, lost orders."""

from __future__ import annotations

from collections.abc import Callable

from bench.observer import Seen
from bench.placing import Placed, Placements
from bench.soak_summary import Sample, summarize

SETTINGS = {"minutes": 10, "rate": 10, "sample_seconds": 10}
STARTED = 1_000_000.0


def samples(rss: dict[str, list[float]], seconds: int = 600, every: int = 10) -> list[Sample]:
    """One sample every `every` s; each process's RSS taken from its list in turn."""
    return [
        Sample(
            at_s=float(t),
            rss_mib={name: sizes[i % len(sizes)] for name, sizes in rss.items()},
            cpu_s={name: 0.01 * t for name in rss},
            queued=0,
            placed=10 * t,
        )
        for i, t in enumerate(range(0, seconds + 1, every))
    ]


def orders(
    latency_ms: Callable[[int], float],
    seconds: int = 600,
    lost: int = 0,
    intake_s: Callable[[int], float] = lambda _second: 0.01,
) -> tuple[Placements, Seen]:
    """One order a second, taken in `intake_s(second)` and emailed after `latency_ms(second)`;
    the last `lost` never emailed."""
    placements, seen = Placements(), {"terminal": {}, "notified": {}}
    for second in range(seconds):
        order = Placed(f"o{second}", STARTED + second, intake_s(second), "soak")
        placements.orders.append(order)
        if second < seconds - lost:
            seen["notified"][order.order_id] = [order.sent_at + latency_ms(second) / 1000]
    return placements, seen


def steady(_second: int) -> float:
    return 80.0


def test_a_steady_run_is_flat():
    wobbling = {"orders-api": [120.0, 124.0, 119.0, 123.0], "redis": [30.0, 31.0]}
    result = summarize(SETTINGS, STARTED, *orders(steady), samples(wobbling))

    assert result["verdict"] == {"ok": True, "lost": 0, "growing": [], "latency_drifts": False}
    assert result["cpu_ms_per_order"] == {"orders-api": 1.0, "redis": 1.0}


def test_a_process_whose_memory_keeps_rising_grows_but_a_store_is_not_judged():
    rising = [100.0 + 0.5 * i for i in range(61)]  # 30 MiB in 10 minutes
    run = samples({"payments-worker": rising, "redis": rising, "smtp-sink": rising})
    result = summarize(SETTINGS, STARTED, *orders(steady), run)

    assert result["verdict"]["growing"] == ["payments-worker"]
    assert result["memory"]["by_process"]["payments-worker"]["growth_mib_per_h"] == 180.0
    assert result["memory"]["by_process"]["redis"]["judged"] is False
    assert result["memory"]["by_process"]["smtp-sink"]["judged"] is False
    assert not result["verdict"]["ok"]


def climbing(second: int) -> float:
    return 80.0 + second  # 80 ms at first, 680 ms at the end


def test_latency_that_climbs_drifts():
    result = summarize(SETTINGS, STARTED, *orders(climbing), samples({"orders-api": [120.0]}))

    assert result["verdict"]["latency_drifts"]
    assert result["latency_ms"]["drift_ratio"] > 1.5
    assert not result["verdict"]["ok"]


def test_an_order_never_emailed_is_lost():
    result = summarize(SETTINGS, STARTED, *orders(steady, lost=3), samples({"orders-api": [120.0]}))

    assert result["verdict"]["lost"] == 3
    assert not result["verdict"]["ok"]


def test_intake_is_reported_after_warm_up():
    def slow_while_warming_up(second: int) -> float:
        return 0.5 if second < 120 else 0.01 + second / 1e6

    result = summarize(SETTINGS, STARTED, *orders(steady, intake_s=slow_while_warming_up), samples({}))

    assert result["warmup_s"] == 120.0
    assert result["intake_ms"]["p50"] == 10.4 and result["intake_ms"]["p99"] == 10.6
