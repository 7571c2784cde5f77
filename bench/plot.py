"""The benchmark's picture, artifacts/bench/e2e.png: one panel per question it answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import chain
from harness.plots import pyplot

SHOP_BLUE, CHAIN_GREY = "#2b7bba", "#999999"


def plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    figure, (flow, latency, throughput, profile) = plt.subplots(
        1, 4, figsize=(20, 4.8), gridspec_kw={"width_ratios": [3, 1.4, 1.2, 1.8]}
    )
    _flow(flow, result["stack"]["timeline"])
    _latency(latency, result["stack"]["paced"]["latency_ms"], result["settings"]["rate"])
    _throughput(throughput, result)
    _profile(profile, result)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _flow(axis, timeline: dict[str, list[int]]) -> None:
    """Orders per second over the run: placed, terminal, emailed."""
    for name, counts in timeline.items():
        axis.plot(range(len(counts)), counts, label=name)
    axis.set_xlabel("seconds since the first order")
    axis.set_ylabel("orders / second")
    axis.set_title("Orders placed, terminal, emailed (steady, then flat out)")
    axis.legend()


def _latency(axis, latency: dict[str, dict[str, float]], rate: float) -> None:
    """Placed → confirmed and placed → email sent at the steady rate, p50/p95/p99."""
    labels, width = ["p50", "p95", "p99"], 0.38
    for offset, hop, label in ((-0.5, "confirmed", "confirmed"), (0.5, "notified", "email sent")):
        xs = [x + offset * width for x in range(len(labels))]
        bars = axis.bar(xs, [latency[hop][k] for k in labels], width, label=label)
        axis.bar_label(bars, fmt="{:.0f}", fontsize=8)
    axis.set_xticks(range(len(labels)), labels)
    axis.set_ylabel("ms after POST")
    axis.set_title(f"Latency at {rate} orders/s")
    axis.legend()


def _throughput(axis, result: dict[str, Any]) -> None:
    """The medians of the shop and of the bare chain, each run as a dot."""
    medians = [result["orders_per_s"], result["chain_orders_per_s"]]
    bars = axis.bar(["shop", "bare chain"], medians, color=[SHOP_BLUE, CHAIN_GREY])
    axis.bar_label(bars, fmt="{:,.0f}")
    runs = [
        [r["orders_per_s"] for r in result["stack"]["flat"]["rounds"]],
        [r["orders_per_s"] for r in result["chain"]["runs"]],
    ]
    for x, values in enumerate(runs):
        axis.scatter(
            [x] * len(values), values, color="black", s=12, zorder=3, label="runs" if x == 0 else None
        )
    axis.legend(fontsize=8)
    axis.set_ylabel("orders / second, end to end (medians)")
    axis.set_title(f"Ratio of the medians: {result['ratio_to_chain']:.2f}")


def _profile(axis, result: dict[str, Any]) -> None:
    """CPU per order by process, with the broker and Redis traffic that explain it."""
    flat = result["stack"]["flat"]
    per_order = flat["per_order"]
    cpu = per_order["cpu_ms_by_process"]
    bars = axis.barh(list(cpu)[::-1], list(cpu.values())[::-1], color=SHOP_BLUE)
    axis.bar_label(bars, fmt="{:.1f}", fontsize=8)
    axis.tick_params(axis="y", labelsize=8)
    axis.set_xlabel("CPU ms per order, flat out")
    broker = per_order["broker_messages"]
    chain_cpu = result["chain"]["cpu_ms_per_order"]
    axis.set_title(
        f"{flat['cpu_ms_per_order']} ms CPU per order (bare chain "
        f"{sum(chain_cpu.values()):.1f}, its broker {chain_cpu['rabbitmq']:.1f})\n"
        f"broker: {broker['enqueued']:.1f} enqueued, {broker['delivered']:.1f} delivered per order "
        f"(chain {chain.MESSAGES_PER_ORDER}, {chain.MESSAGES_PER_ORDER})\n"
        f"Redis per order: {per_order['redis_commands']:.0f} commands; "
        f"log lines per order: {per_order['log_lines']:.1f}",
        fontsize=9,
    )
