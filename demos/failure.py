"""Demo 2 — independent failure: stop payments while customers keep ordering, then compare.

    make demo-failure                    (DEMO_ARGS="--outage 5 --rate 10" for a short run)

A steady stream of orders runs; `make stop SERVICE=payments` stops every payments process
for `--outage` seconds while the stream continues; `make start SERVICE=payments` brings
it back. Measured: intake success and latency before and during the outage, what piled
up meanwhile (orders PENDING, order.placed waiting in the payments queue), the time to
drain that backlog, and the final ledger — every order in a final state, none lost, none
charged twice, no email sent twice.

Then the same outage hits the coupled ANTI-PATTERN (demos/coupled: orders calls payments
and notifications over HTTP inside the customer's request), started by this demo on free
ports, and the two are printed side by side.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
import requests

from demos.common import (
    ROOT,
    artifacts,
    broker_url,
    emails_by_order,
    emit,
    make,
    pyplot,
    report,
    require_stack,
    run_demo,
    say,
    smtp_url,
    url,
    wait_for,
)
from harness.load import TERMINAL, OrderLoad, gateway_charges, intake_summary, order_statuses
from harness.probe import QueueProbe, Sampler
from infra.ports import free_port

NAME = "demo-failure"
LATENCY_BAR = 1.2


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demos.failure", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="orders per second")
    parser.add_argument("--before", type=float, default=30.0, help="seconds of normal traffic measured")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds payments is down")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of traffic not measured")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--skip-coupled", action="store_true", help="only the event-driven shop")
    return parser.parse_args(argv)


# --- one variant of the shop under the outage ------------------------------------------------


@dataclass
class Variant:
    """How to reach one shop and how to take its payments down and up."""

    label: str
    orders_url: str
    payments_url: str
    stop_payments: Callable[[], None]
    start_payments: Callable[[], None]
    queue: str | None = None  # where order.placed waits for payments (event-driven only)


@dataclass
class Outcome:
    label: str
    load: OrderLoad
    outage: tuple[float, float]
    pending_at_end_of_outage: int
    queue_at_end_of_outage: int | None
    drain_seconds: float
    final: dict[str, str | None]
    charges: dict[str, int]
    emails: dict[str, int]
    depths: list[tuple[float, int]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        before, during = intake_summary(self.load.of("before")), intake_summary(self.load.of("during"))
        attempted = self.load.of("warmup", "before", "during")
        accepted = [r.order_id for r in attempted if r.order_id]
        return {
            "intake_success_rate": intake_summary(attempted)["success_rate"],
            "intake_errors_during": during["errors"],
            "intake_p50_ms_before": before["p50_ms"],
            "intake_p99_ms_before": before["p99_ms"],
            "intake_p50_ms_during": during["p50_ms"],
            "intake_p99_ms_during": during["p99_ms"],
            "pending_during": self.pending_at_end_of_outage,
            "payments_queue_during": self.queue_at_end_of_outage,
            "drain_seconds": round(self.drain_seconds, 1),
            "orders": len(attempted),
            "accepted": len(accepted),
            # a customer's order the shop does not have in a final state at the end: refused or stuck
            "lost": len(attempted) - sum(self.final.get(o) in TERMINAL for o in accepted),
            "double_charges": sum(n > 1 for n in self.charges.values()),
            "duplicate_emails": sum(self.emails.get(o, 0) > 1 for o in accepted),
            "missing_emails": sum(
                self.emails.get(o, 0) == 0 for o in accepted if self.final.get(o) in TERMINAL
            ),
        }


def run_outage(variant: Variant, args: argparse.Namespace) -> Outcome:
    say(
        f"\n[{variant.label}] {args.rate:.0f} orders/s: "
        f"{args.warmup:.0f}s warm-up, {args.before:.0f}s measured"
    )
    load = OrderLoad(variant.orders_url, phase="warmup")
    sampler = None
    if variant.queue:
        probe = QueueProbe(broker_url())
        sampler = Sampler(lambda: probe.depth(variant.queue), interval=0.5).__enter__()
    try:
        load.start(args.rate)
        time.sleep(args.warmup)
        load.phase = "before"
        time.sleep(args.before)
        load.phase = "during"
        down_at = time.time()
        say(f"[{variant.label}] stopping payments for {args.outage:.0f}s; orders keep coming")
        variant.stop_payments()
        time.sleep(max(0.0, down_at + args.outage - time.time()))
        load.stop()
        accepted = load.accepted()
        pending = sum(s == "PENDING" for s in order_statuses(accepted, variant.orders_url).values())
        queued = sampler.latest if sampler else None
        say(f"[{variant.label}] end of the outage: {pending} orders PENDING; starting payments again")
        up_at = time.time()
        variant.start_payments()
        final = drain(accepted, variant.orders_url, args.drain_timeout)
        drained_at = time.time()
        say(f"[{variant.label}] every order final after {drained_at - up_at:.1f}s; reading the ledgers")
        emails = settled_emails(accepted, final)
        charges = gateway_charges(accepted, variant.payments_url)
    finally:
        load.stop()
        load.close()
        if sampler:
            sampler.__exit__()
            probe.close()
    depths = sampler.points if sampler else []
    return Outcome(
        variant.label,
        load,
        (down_at, up_at),
        pending,
        queued,
        drained_at - up_at,
        final,
        charges,
        emails,
        depths,
    )


def drain(order_ids: list[str], orders_url: str, timeout: float) -> dict[str, str | None]:
    """Poll the orders not yet final until all are (or the timeout): their last known statuses."""
    deadline = time.monotonic() + timeout
    final: dict[str, str | None] = {}
    waiting = list(order_ids)
    while waiting and time.monotonic() < deadline:
        statuses = order_statuses(waiting, orders_url)
        final |= statuses
        waiting = [o for o, s in statuses.items() if s not in TERMINAL]
        if waiting:
            time.sleep(0.5)
    return final


def settled_emails(
    order_ids: list[str], final: dict[str, str | None], timeout: float = 120
) -> dict[str, int]:
    """Emails per order, once every final order got its email (or at the timeout)."""
    expected = {o for o in order_ids if final.get(o) in TERMINAL}
    deadline = time.monotonic() + timeout
    while True:
        emails = emails_by_order()
        if expected <= emails.keys() or time.monotonic() > deadline:
            return emails
        time.sleep(1)


# --- the two variants --------------------------------------------------------------------------


def event_driven() -> Variant:
    def stop() -> None:
        make("stop", SERVICE="payments")

    def start() -> None:
        make("start", SERVICE="payments")

    return Variant("event-driven", url("orders"), url("payments"), stop, start, queue="payments")


class CoupledShop:
    """The ANTI-PATTERN of demos/coupled as three gunicorn processes on free ports."""

    APPS = ("orders", "payments", "notifications")

    def __init__(self, log_dir) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.ports = {app: free_port() for app in self.APPS}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_PREFIX": f"demo-{self.run_id}:",
            "COUPLED_PAYMENTS_URL": self.url("payments"),
            "COUPLED_NOTIFICATIONS_URL": self.url("notifications"),
            "SMTP_URL": smtp_url(),
        }

    def url(self, app: str) -> str:
        return f"http://127.0.0.1:{self.ports[app]}"

    def start(self, app: str) -> None:
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        command = [
            gunicorn,
            "--config",
            "infra/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{self.ports[app]}",
            f"demos.coupled.app:create_{app}_app()",
        ]
        log = open(self.log_dir / f"coupled-{app}.log", "ab")  # noqa: SIM115 (owned by the child)
        self.processes[app] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(lambda: _answers(self.url(app) + "/readyz"), 30, f"coupled {app} to answer")

    def stop(self, app: str) -> None:
        process = self.processes.pop(app)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> CoupledShop:
        for app in reversed(self.APPS):
            self.start(app)
        return self

    def __exit__(self, *_: object) -> None:
        for app in list(self.processes):
            self.stop(app)
        client = redis.Redis.from_url(self.env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
        keys = list(client.scan_iter(f"{self.env['REDIS_PREFIX']}*"))
        if keys:
            client.delete(*keys)

    def variant(self) -> Variant:
        return Variant(
            "coupled (anti-pattern)",
            self.url("orders"),
            self.url("payments"),
            lambda: self.stop("payments"),
            lambda: self.start("payments"),
        )


def _answers(address: str) -> bool:
    try:
        return requests.get(address, timeout=1).status_code == 200
    except requests.RequestException:
        return False


# --- report --------------------------------------------------------------------------------------


def plot(outcomes: list[Outcome], path) -> None:
    plt = pyplot()
    rows = len(outcomes) + 1
    figure, axes = plt.subplots(rows, 1, figsize=(10, 3 * rows), sharex=True)
    for axis, outcome in zip(axes, outcomes, strict=False):
        t0 = outcome.load.records[0].due_at if outcome.load.records else 0
        ok = [r for r in outcome.load.records if r.ok]
        failed = [r for r in outcome.load.records if not r.ok]
        axis.scatter([r.due_at - t0 for r in ok], [r.latency_ms for r in ok], s=4, label="accepted")
        axis.scatter(
            [r.due_at - t0 for r in failed],
            [r.latency_ms for r in failed],
            s=12,
            marker="x",
            color="tab:red",
            label="refused / error",
        )
        axis.axvspan(
            outcome.outage[0] - t0, outcome.outage[1] - t0, color="tab:red", alpha=0.1, label="payments down"
        )
        axis.set_yscale("log")
        axis.set_ylabel("intake latency (ms)")
        axis.set_title(f"{outcome.label}: POST /api/orders")
        axis.legend(loc="upper left", fontsize=8)
    depth_axis = axes[-1]
    decoupled = outcomes[0]
    t0 = decoupled.load.records[0].due_at
    depth_axis.plot(
        [t - t0 for t, _ in decoupled.depths], [d for _, d in decoupled.depths], color="tab:purple"
    )
    depth_axis.axvspan(decoupled.outage[0] - t0, decoupled.outage[1] - t0, color="tab:red", alpha=0.1)
    depth_axis.set_ylabel("order.placed waiting")
    depth_axis.set_title("event-driven: the payments queue holds the orders while payments is down")
    depth_axis.set_xlabel("seconds since the first order")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def side_by_side(event: dict[str, Any], coupled: dict[str, Any] | None) -> list[str]:
    rows = [
        ("orders placed by customers", "orders"),
        ("intake success rate", "intake_success_rate"),
        ("intake errors during the outage", "intake_errors_during"),
        ("intake p50 ms before / during", ("intake_p50_ms_before", "intake_p50_ms_during")),
        ("intake p99 ms before / during", ("intake_p99_ms_before", "intake_p99_ms_during")),
        ("orders PENDING at the end of the outage", "pending_during"),
        ("order.placed in the payments queue then", "payments_queue_during"),
        ("seconds to drain after restart", "drain_seconds"),
        ("orders lost", "lost"),
        ("double charges", "double_charges"),
        ("duplicate emails", "duplicate_emails"),
        ("orders final but without email", "missing_emails"),
    ]

    def cell(figures: dict[str, Any] | None, key) -> str:
        if figures is None:
            return "-"
        if isinstance(key, tuple):
            return " / ".join(f"{figures[k]:g}" for k in key)
        value = figures[key]
        return "-" if value is None else f"{value:g}"

    lines = [f"  {'':<42}{'event-driven':>16}{'coupled':>16}"]
    lines += [f"  {label:<42}{cell(event, key):>16}{cell(coupled, key):>16}" for label, key in rows]
    return lines


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    require_stack("orders", "payments", "notifications")
    folder = artifacts(NAME)
    say(f"Demo: payments down for {args.outage:.0f}s while customers order at {args.rate:.0f}/s")
    outcomes = [run_outage(event_driven(), args)]
    if not args.skip_coupled:
        with CoupledShop(folder) as coupled:
            outcomes.append(run_outage(coupled.variant(), args))
    event = outcomes[0].figures()
    coupled_figures = outcomes[1].figures() if len(outcomes) > 1 else None
    for outcome in outcomes:
        outcome.load.dump(folder / f"intake-{outcome.label.split()[0]}.json")
    path = folder / "failure.png"
    plot(outcomes, path)

    p99_ratio = event["intake_p99_ms_during"] / event["intake_p99_ms_before"]
    lines = ["", f"Payments down for {args.outage:.0f}s while customers ordered at {args.rate:.0f}/s:", ""]
    lines += side_by_side(event, coupled_figures)
    lines += [
        "",
        f"Event-driven: every order accepted ({event['intake_success_rate']:.2%}, bar 100%), "
        f"p99 during/before = {p99_ratio:.2f} (bar ≤ {LATENCY_BAR}); the outage only delayed payment: "
        f"{event['pending_during']} orders waited PENDING and were settled "
        f"{event['drain_seconds']:.1f}s after payments came back.",
    ]
    if coupled_figures:
        lines.append(
            f"Coupled: {coupled_figures['intake_errors_during']} customers got an error during the outage "
            f"and {coupled_figures['lost']} orders are simply gone."
        )
    lines.append(f"Plot: {path}")
    report(lines)
    emit({**event, "coupled": coupled_figures}, NAME)


if __name__ == "__main__":
    run_demo(main)
