"""Demo 3 — a new subscriber joins: loyalty learns the past from the event log, then keeps up.

    make demo-subscriber                 (DEMO_ARGS="--before 20 --live 10" for a short run)

Orders are placed while loyalty is not running. Then `make start SERVICE=loyalty`: it
declares its own queue, backfills from the `shop.events.log` stream everything that
happened before it existed, and goes live — while more orders keep coming, so some
events reach it by both paths. At the end every customer's points are checked against
what the orders API says they bought (each confirmed order counted exactly once), and
the demo proves the orders service was not touched: its files are the same, no commit
that added loyalty changed it, and its processes were never restarted.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from demos.common import (
    ROOT,
    DemoError,
    answers,
    artifacts,
    broker_url,
    emit,
    make,
    operator_headers,
    report,
    require_stack,
    run_demo,
    say,
    service_processes,
    url,
    wait_for,
)
from harness.load import TERMINAL, OrderLoad, order_statuses
from harness.plots import pyplot
from harness.probe import QueueProbe, Sampler

NAME = "demo-subscriber"
CENTS_PER_POINT = 100  # the rule of services/loyalty: one point per whole euro of a confirmed order


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demos.subscriber", description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=int, default=60, help="orders placed before loyalty exists")
    parser.add_argument("--during", type=int, default=20, help="more orders once loyalty's processes run")
    parser.add_argument("--live", type=int, default=30, help="orders placed once loyalty is live")
    parser.add_argument("--customers", type=int, default=5)
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second")
    return parser.parse_args(argv)


# --- proof that orders was not touched ---------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def orders_files() -> dict[str, str]:
    """sha256 of every source file of the orders service."""
    folder = ROOT / "services" / "orders"
    return {
        str(path.relative_to(ROOT)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def history_proof() -> dict[str, Any]:
    """What git says: uncommitted changes in services/orders; the commits that added loyalty's files,
    and whether they touch orders; later commits that touch both (e.g. a refactoring of every service)."""
    try:
        uncommitted = git("status", "--porcelain", "--", "services/orders").splitlines()
        adding = git("log", "--diff-filter=A", "--format=%h", "--", "services/loyalty").split()
        touching_loyalty = git("log", "--format=%h", "--", "services/loyalty").split()
    except (OSError, subprocess.CalledProcessError):
        return {"git": False}

    def touches_orders(commit: str) -> bool:
        return "services/orders/" in git("show", "--format=", "--name-only", commit)

    return {
        "git": True,
        "uncommitted_in_orders": uncommitted,
        "loyalty_commits": adding,
        "loyalty_commits_touching_orders": [c for c in adding if touches_orders(c)],
        "later_commits_touching_both": [c for c in touching_loyalty if c not in adding and touches_orders(c)],
    }


# --- loyalty ---------------------------------------------------------------------------------


def loyalty_stats() -> dict[str, int] | None:
    try:
        response = requests.get(url("loyalty") + "/api/points", headers=operator_headers(), timeout=2)
    except requests.RequestException:
        return None
    return response.json()["stats"] if response.status_code == 200 else None


def caught_up(probe: QueueProbe) -> bool:
    """Loyalty consumes its queue only after the backfill: a consumer and nothing waiting = caught up."""
    found = probe.queue("loyalty")
    return found is not None and found[0] == 0 and found[1] > 0


def stop_loyalty(probe: QueueProbe) -> dict[str, int]:
    """Make sure loyalty is not running; return its counters as they stand (zero if it never ran)."""
    if probe.queue("loyalty") is None and not answers("loyalty"):
        say("… loyalty has never run here: no queue, no data")
        return {}
    if not answers("loyalty"):
        say("… loyalty ran here before: starting it once to read where it stands")
        make("start", SERVICE="loyalty")
    wait_for(lambda: caught_up(probe), 120, "loyalty to catch up")
    stats = loyalty_stats() or {}
    say("… stopping loyalty: it will miss what comes next")
    make("stop", SERVICE="loyalty")
    return stats


@dataclass
class Customer:
    email: str
    confirmed: int  # confirmed orders according to orders
    expected_points: int
    points: int  # according to loyalty
    counted: int  # confirmed orders loyalty credited


def ledger(order_ids: list[str], customers: list[str]) -> list[Customer]:
    orders = [requests.get(f"{url('orders')}/api/orders/{o}", timeout=5).json() for o in order_ids]
    rows = []
    for email in customers:
        confirmed = [o for o in orders if o["customer_email"] == email and o["status"] == "CONFIRMED"]
        account = requests.get(f"{url('loyalty')}/api/points/{email}", timeout=5).json()
        expected = sum(o["total_cents"] // CENTS_PER_POINT for o in confirmed)
        rows.append(Customer(email, len(confirmed), expected, account["points"], account["orders_confirmed"]))
    return rows


def statuses_final(order_ids: list[str]) -> bool:
    return all(status in TERMINAL for status in order_statuses(order_ids, url("orders")).values())


# --- the demo --------------------------------------------------------------------------------


def plot(
    samples: list[tuple[float, dict[str, int] | None]],
    started: float,
    live_from: float,
    before: dict[str, int],
    rows: list[Customer],
    path,
) -> None:
    plt = pyplot()
    figure, (paths, points) = plt.subplots(2, 1, figsize=(10, 7))
    t0 = samples[0][0]
    for key, color in (("backfilled", "tab:orange"), ("live", "tab:blue")):
        xs = [t - t0 for t, stats in samples if stats is not None]
        ys = [stats.get(key, 0) - before.get(key, 0) for _, stats in samples if stats is not None]
        paths.step(xs, ys, where="post", color=color, label=f"{key} events")
    paths.axvline(started - t0, color="grey", linestyle="--")
    paths.annotate("make start SERVICE=loyalty", (started - t0, 0), rotation=90, fontsize=8, ha="right")
    paths.axvline(live_from - t0, color="tab:blue", linestyle=":")
    paths.annotate("live orders", (live_from - t0, 0), rotation=90, fontsize=8, ha="left")
    paths.set_xlabel("seconds")
    paths.set_ylabel("events handled by loyalty")
    paths.set_title("Events per path: backfilled from shop.events.log, then live from its own queue")
    paths.legend(loc="upper left")
    labels = [row.email.split("@")[0] for row in rows]
    positions = range(len(rows))
    points.bar(
        [p - 0.2 for p in positions], [r.expected_points for r in rows], 0.4, label="implied by orders"
    )
    points.bar([p + 0.2 for p in positions], [r.points for r in rows], 0.4, label="loyalty's points")
    points.set_xticks(list(positions), labels, fontsize=8)
    points.set_ylabel("points")
    points.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    require_stack("orders", "payments", "notifications")
    run_id = uuid.uuid4().hex[:6]
    customers = [f"loyal-{run_id}-{i}@example.com" for i in range(args.customers)]
    say(f"Demo: a new subscriber, loyalty, joins a running shop ({args.before} orders first)")

    probe = QueueProbe(broker_url())
    files_before, processes_before = orders_files(), service_processes("orders")
    if not processes_before:
        raise DemoError("no running process of the orders service was found")
    stats_before = stop_loyalty(probe)

    load = OrderLoad(url("orders"), customers=customers, phase="before")
    say(f"… placing {args.before} orders for {len(customers)} customers while loyalty is not running")
    load.place(args.before, args.rate)
    wait_for(lambda: statuses_final(load.accepted()), 120, "every order to be confirmed or cancelled", 0.5)

    with Sampler(loyalty_stats, interval=0.25) as sampler:
        say("… make start SERVICE=loyalty, while orders keep coming")
        load.phase = "while loyalty starts"
        started = time.time()
        load.start(args.rate)
        make("start", SERVICE="loyalty")
        load.stop()
        load.place(args.during, args.rate)  # published while loyalty is backfilling: both paths see them
        wait_for(lambda: caught_up(probe), 120, "loyalty to finish its backfill")
        live_from = time.time()
        say(f"… loyalty is live: placing {args.live} more orders")
        load.phase = "live"
        load.place(args.live, args.rate)
        load.close()
        accepted = load.accepted()
        wait_for(lambda: statuses_final(accepted), 120, "every order to be confirmed or cancelled", 0.5)
        say("… waiting for loyalty to credit every confirmed order")

        def settled() -> bool:
            rows = ledger(accepted, customers)
            return caught_up(probe) and all(r.points >= r.expected_points for r in rows)

        wait_for(settled, 120, "loyalty to credit every confirmed order", 0.5)
        time.sleep(1)  # any event counted twice would show up now
    probe.close()

    rows = ledger(accepted, customers)
    stats_after = loyalty_stats() or {}
    backfilled = stats_after.get("backfilled", 0) - stats_before.get("backfilled", 0)
    live = stats_after.get("live", 0) - stats_before.get("live", 0)
    counted_twice = sum(max(0, r.counted - r.confirmed) for r in rows)
    missed = sum(max(0, r.confirmed - r.counted) for r in rows)
    wrong_points = [r.email for r in rows if r.points != r.expected_points]
    processes_after = service_processes("orders")
    restarted = sorted(
        name for name, started_as in processes_before.items() if processes_after.get(name) != started_as
    )
    files_changed = sorted(
        p for p in files_before.keys() | orders_files().keys() if files_before.get(p) != orders_files().get(p)
    )
    history = history_proof()
    path = artifacts(NAME) / "subscriber.png"
    plot(sampler.points, started, live_from, stats_before, rows, path)

    lines = [
        "",
        f"loyalty joined a running shop: {len(accepted)} orders by {len(customers)} customers "
        f"({len(load.of('before'))} before it existed, {len(load.of('while loyalty starts'))} while it "
        f"started, {len(load.of('live'))} once it was live).",
        "",
        f"  events backfilled from shop.events.log   {backfilled}",
        f"  events received live on its own queue    {live}",
        "",
        f"  {'customer':<32}{'confirmed':>10}{'points':>8}{'implied':>9}",
    ]
    lines += [f"  {r.email:<32}{r.confirmed:>10}{r.points:>8}{r.expected_points:>9}" for r in rows]
    lines += [
        "",
        f"Orders counted twice: {counted_twice}; confirmed orders missed: {missed}; "
        f"customers with wrong points: {len(wrong_points)}.",
        "Proof that orders was not touched:",
        f"  its {len(files_before)} files unchanged during the demo: {files_changed or 'yes'}",
        f"  its processes never restarted: {restarted or 'yes'} "
        f"({', '.join(f'{n} {p}' for n, p in sorted(processes_before.items()))})",
    ]
    if history["git"]:
        lines += [
            f"  commits that added loyalty ({', '.join(history['loyalty_commits']) or 'none yet'}) touching "
            f"services/orders: {history['loyalty_commits_touching_orders'] or 'none'}",
            "  later commits touching both loyalty and orders: "
            f"{history['later_commits_touching_both'] or 'none'}",
            "  uncommitted changes in services/orders: "
            f"{history['uncommitted_in_orders'] or 'none (git status --porcelain is empty)'}",
        ]
    lines += ["loyalty keeps running.", f"Plot: {path}"]
    report(lines)
    emit(
        {
            "backfilled_events": backfilled,
            "live_events": live,
            "customers": {r.email: r.points for r in rows},
            "expected_points": {r.email: r.expected_points for r in rows},
            "orders_counted_twice": counted_twice,
            "orders_missed": missed,
            "orders": len(accepted),
            "orders_untouched": {
                "files_changed": files_changed,
                "processes_restarted": restarted,
                **history,
            },
        },
        NAME,
    )


if __name__ == "__main__":
    run_demo(main)
