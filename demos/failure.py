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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from demos.common import (
    artifacts,
    broker_url,
    emails_by_order,
    emit,
    make,
    report,
    require_stack,
    run_demo,
    say,
    url,
)
from demos.coupled.shop import CoupledShop
from harness.load import TERMINAL, OrderLoad, gateway_charges, intake_summary, order_statuses
from harness.plots import pyplot
from harness.probe import QueueProbe, Sampler
from harness.waiting import wait_until

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
    """Each order's last known status, once all are final or at the timeout (what is not final
    then counts as lost). Only the orders not yet final are asked again."""
    final: dict[str, str | None] = {}

    def all_final() -> bool:
        final.update(order_statuses([o for o in order_ids if final.get(o) not in TERMINAL], orders_url))
        return all(final[o] in TERMINAL for o in order_ids)

    wait_until(all_final, timeout, 0.5, failure=None)
    return final


def settled_emails(
    order_ids: list[str], final: dict[str, str | None], timeout: float = 120
) -> dict[str, int]:
    """Emails per order, once every final order got its email or at the timeout (the missing
    ones are a figure of the report)."""
    expected = {o for o in order_ids if final.get(o) in TERMINAL}
    emails: dict[str, int] = {}

    def all_mailed() -> bool:
        emails.update(emails_by_order())
        return expected <= emails.keys()

    wait_until(all_mailed, timeout, 1, failure=None)
    return emails


# --- the two variants --------------------------------------------------------------------------


def event_driven() -> Variant:
    def stop() -> None:
        make("stop", SERVICE="payments")

    def start() -> None:
        make("start", SERVICE="payments")

    return Variant("event-driven", url("orders"), url("payments"), stop, start, queue="payments")


def coupled(shop: CoupledShop) -> Variant:
    return Variant(
        "coupled (anti-pattern)",
        shop.url("orders"),
        shop.url("payments"),
        lambda: shop.stop("payments"),
        lambda: shop.start("payments"),
    )


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
        with CoupledShop(folder) as shop:
            outcomes.append(run_outage(coupled(shop), args))
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
