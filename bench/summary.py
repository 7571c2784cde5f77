"""From what was placed and observed to the benchmark's figures, and the report printed."""

from __future__ import annotations

import os
import statistics

from bench import chain
from bench.observer import Seen
from bench.placing import Placed, Placements
from harness.mail import Mail
from harness.stats import percentiles


def summarize(
    placements: Placements, seen: Seen, mail: list[Mail], cpu_s: dict[str, float]
) -> dict[str, object]:
    emails: dict[str, int] = {}
    for message in mail:
        emails[message.order_id] = emails.get(message.order_id, 0) + 1
    orders = placements.orders
    complete = [o for o in orders if o.order_id in seen["terminal"] and o.order_id in seen["notified"]]
    complete_ids = {o.order_id for o in complete}
    paced = [o for o in complete if o.phase == "paced"]
    flat = [o for o in orders if o.phase.startswith("flat")]
    rounds = [
        flat_round([o for o in flat if o.phase == phase], complete_ids, seen)
        for phase in sorted({o.phase for o in flat}, key=lambda phase: int(phase.split("-")[1]))
    ]
    cpu_total = sum(cpu_s.values())
    flat_done = sum(r["done"] for r in rounds)
    return {
        "orders": len(orders),
        "lost": len(orders) - len(complete),
        "http_errors": placements.errors,
        "mailed_once": sum(1 for o in orders if emails.get(o.order_id) == 1),
        "mailed_twice_or_more": sum(1 for o in orders if emails.get(o.order_id, 0) > 1),
        "outcomes_published_twice": sum(1 for times in seen["terminal"].values() if len(times) > 1),
        "flat": {
            "orders": len(flat),
            "orders_per_s": round(statistics.median(r["orders_per_s"] for r in rounds), 1) if rounds else 0.0,
            "rounds": rounds,
            "cpu_s": {k: round(v, 2) for k, v in cpu_s.items()},
            "cpu_ms_per_order": round(1000 * cpu_total / flat_done, 2) if flat_done else None,
            "cpu_ms_per_order_by_group": {
                k: round(1000 * v / max(1, flat_done), 2) for k, v in cpu_s.items()
            },
        },
        "paced": {
            "orders": len(paced),
            "latency_ms": {
                "confirmed": percentiles(
                    [1000 * (seen["terminal"][o.order_id][0] - o.sent_at) for o in paced]
                ),
                "notified": percentiles(
                    [1000 * (seen["notified"][o.order_id][0] - o.sent_at) for o in paced]
                ),
            },
            "intake_ms": percentiles([1000 * o.intake_s for o in orders if o.phase == "paced"]),
        },
        "intake_ms_flat": percentiles([1000 * o.intake_s for o in flat]),
        "timeline": timeline(orders, seen),
    }


def flat_round(placed: list[Placed], complete_ids: set[str], seen: Seen) -> dict[str, float]:
    """One flat-out phase: orders / (its last email - its first POST), and how fast it took orders in."""
    done = [o for o in placed if o.order_id in complete_ids]
    start = min((o.sent_at for o in placed), default=0.0)
    end = max((seen["notified"][o.order_id][0] for o in done), default=0.0)
    intake_end = max((o.sent_at + o.intake_s for o in placed), default=0.0)
    return {
        "orders": len(placed),
        "done": len(done),
        "orders_per_s": round(len(done) / (end - start), 1) if done else 0.0,
        "intake_orders_per_s": round(len(placed) / (intake_end - start), 1) if placed else 0.0,
        "seconds": round(end - start, 2),
    }


def timeline(orders: list[Placed], seen: Seen) -> dict[str, list[int]]:
    """Per second since the first order: placed, terminal and notified counts (for the plot)."""
    if not orders:
        return {}
    origin = min(o.sent_at for o in orders)
    series: dict[str, list[int]] = {}
    points = {
        "placed": [o.sent_at for o in orders],
        "terminal": [times[0] for times in seen["terminal"].values()],
        "notified": [times[0] for times in seen["notified"].values()],
    }
    end = int(max(max(p) for p in points.values() if p) - origin) + 1
    for name, stamps in points.items():
        counts = [0] * end
        for stamp in stamps:
            if stamp >= origin:
                counts[int(stamp - origin)] += 1
        series[name] = counts
    return series


def report(result: dict[str, object]) -> None:
    stack = result["stack"]
    paced, flat = stack["paced"], stack["flat"]
    chain_cpu = result["chain"]["cpu_ms_per_order"]
    lines = [
        "",
        f"End-to-end benchmark, {result['when']}, {os.cpu_count()} CPUs",
        f"  orders placed {stack['orders']}, lost {stack['lost']}, HTTP errors {stack['http_errors']}, "
        f"mailed exactly once {stack['mailed_once']}, more than once {stack['mailed_twice_or_more']}",
        f"  flat out ({result['settings']['threads']} connections): {flat['orders_per_s']:,.1f} orders/s "
        f"end to end, the median of {[r['orders_per_s'] for r in flat['rounds']]} "
        f"({flat['orders']} orders; intake {[r['intake_orders_per_s'] for r in flat['rounds']]}/s, "
        f"POST p50/p99 {stack['intake_ms_flat']['p50']}/{stack['intake_ms_flat']['p99']} ms)",
        f"  CPU ms per order: {flat['cpu_ms_per_order']}, {flat['cpu_ms_per_order_by_group']} "
        f"(CPU s {flat['cpu_s']}); the bare chain: {sum(chain_cpu.values()):.2f}, {chain_cpu} "
        f"({chain.MESSAGES_PER_ORDER} enqueues and deliveries per order)",
        f"  at {result['settings']['rate']} orders/s: "
        f"placed→confirmed {paced['latency_ms']['confirmed']} ms, "
        f"placed→email {paced['latency_ms']['notified']} ms, intake {paced['intake_ms']} ms",
        f"  CPU ms per order by process: {flat['per_order']['cpu_ms_by_process']}",
        f"  per order: broker messages {flat['per_order']['broker_messages']}, "
        f"Redis commands {flat['per_order']['redis_commands']} {flat['per_order']['redis_commands_by_name']}",
        f"  per order: log lines {flat['per_order']['log_lines']} "
        f"{flat['per_order']['log_lines_by_process']}",
        f"  bare chain: {result['chain_orders_per_s']:,.1f} orders/s, the median of "
        f"{[round(run['orders_per_s'], 1) for run in result['chain']['runs']]}; "
        f"ratio of the medians {result['ratio_to_chain']:.2f}",
        "",
    ]
    print("\n".join(lines), flush=True)
