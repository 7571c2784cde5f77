"""Demo 1 — decoupled scaling: drain a backlog of emails with 1, 2, 4, 8 notifications workers.

    make demo-scale                      (DEMO_ARGS="--steps 1,2,4 --window 5" for a short run)

Emails are slowed down on purpose (notifications' runtime setting `notify_delay_ms`), the
worker is paused while a burst of orders piles its send tasks up in `notifications.tasks`,
then `make scale SERVICE=notifications-worker N=...` runs 1, 2, 4 and 8 replicas, and at
each step the drain rate is measured from the SMTP sink's message count over a window
while the queue is still full. Scaling efficiency = rate(N) / (N x rate(1)).

Only the notifications workers change: the demo checks that every other process of the
stack kept its pid, and puts the delay and the replica count back as it found them.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import time
from dataclasses import dataclass

import requests

from demos.common import (
    ROOT,
    DemoError,
    artifacts,
    broker_url,
    emit,
    mail_count,
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
from harness.load import OrderLoad, intake_summary
from harness.plots import pyplot
from harness.probe import QueueProbe, Sampler
from harness.waiting import wait_until

NAME = "demo-scale"
TASKS = "notifications.tasks"
WORKER = "notifications-worker"
SETTLE_S = 3.0  # new workers boot (CPU), open their connections and take their first tasks
BAR = 0.85
UPSTREAM_QUEUES = ("orders", "payments", "payments.tasks", "notifications", "dashboard", "loyalty")
PROCFILE = ROOT / "infra" / "Procfile"
SETTINGS = "{}/api/settings"  # notifications' runtime knobs, e.g. {"notify_delay_ms": 200}


@dataclass
class Step:
    replicas: int
    scaled_at: float  # when `make scale` was typed
    window: tuple[float, float]  # when the rate was measured
    emails: int
    starved: bool  # the queue ran low before the window's end

    @property
    def rate(self) -> float:
        return self.emails / (self.window[1] - self.window[0])


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demos.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=int, default=200, help="artificial time to send one email")
    parser.add_argument("--steps", default="1,2,4,8", help="worker replica counts, in order")
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured at each step")
    parser.add_argument("--orders", type=int, help="burst size (default: enough for every window)")
    parser.add_argument("--burst-rate", type=float, default=150.0, help="orders per second in the burst")
    return parser.parse_args(argv)


# --- the runtime knob of notifications -------------------------------------------------------


def notify_delay_ms() -> int:
    """The email delay the workers apply now (they re-read it at most once a second)."""
    response = requests.get(SETTINGS.format(url("notifications")), headers=operator_headers(), timeout=5)
    if response.status_code != 200:
        raise DemoError(f"GET {SETTINGS.format(url('notifications'))} answered {response.status_code}")
    return response.json()["notify_delay_ms"]


def set_notify_delay_ms(value: int) -> None:
    address = SETTINGS.format(url("notifications"))
    response = requests.put(address, json={"notify_delay_ms": value}, headers=operator_headers(), timeout=5)
    if response.status_code != 200:
        raise DemoError(f"PUT {address} answered {response.status_code}: {response.text}")


# --- the demo --------------------------------------------------------------------------------


def worker_shape() -> tuple[str, int]:
    """The worker's Celery pool and tasks at once, from its infra/Procfile line (compose mirrors it)."""
    line = next(line for line in PROCFILE.read_text().splitlines() if line.startswith(f"{WORKER}:"))
    pool = re.search(r"--pool (\w+)", line)
    default = re.search(r"--concurrency \$\{NOTIFICATIONS_WORKER_CONCURRENCY:-(\d+)\}", line)
    concurrency = os.environ.get("NOTIFICATIONS_WORKER_CONCURRENCY", default.group(1) if default else "1")
    return (pool.group(1) if pool else "prefork"), int(concurrency)


def worker_processes() -> list[str]:
    return [name for name in service_processes("notifications") if WORKER in name]


def untouched_processes() -> dict[str, str]:
    """Every process the demo must not touch: all of orders and payments, notifications but its workers."""
    processes = {**service_processes("orders"), **service_processes("payments")}
    processes |= {n: p for n, p in service_processes("notifications").items() if WORKER not in n}
    return processes


def burst_size(steps: list[int], per_replica_rate: float, window: float) -> int:
    """Enough tasks that the queue is still full at the end of every window (with the scaling time)."""
    return math.ceil(1.25 * sum(n * per_replica_rate * (window + SETTLE_S + 4) for n in steps))


def fill_queue(probe: QueueProbe, orders: int, rate: float) -> tuple[OrderLoad, int]:
    """Pause the worker, place the burst, wait until every order's email task waits in the queue."""
    make("scale", SERVICE=WORKER, N=0)
    wait_for(lambda: probe.consumers(TASKS) == 0, 60, f"no consumer left on {TASKS}")
    waiting_before = probe.depth(TASKS)
    say(f"… placing a burst of {orders} orders at {rate:.0f}/s (the worker is paused)")
    load = OrderLoad(url("orders"), phase="burst")
    load.place(orders, rate)
    load.close()
    accepted = len(load.accepted())
    if accepted < orders:
        raise DemoError(f"orders accepted only {accepted} of {orders} orders: {intake_summary(load.records)}")
    target = waiting_before + accepted
    say(f"… waiting for the {accepted} email tasks to pile up in {TASKS}")
    wait_for(lambda: probe.depth(TASKS) >= target, 120 + accepted / 20, f"{target} tasks in {TASKS}", 0.5)
    # The burst's other events (dashboard, loyalty, ...) must not steal CPU from the first step.
    wait_for(
        lambda: not any(probe.depth(q) for q in UPSTREAM_QUEUES), 120, "the other queues to be empty", 0.5
    )
    return load, probe.depth(TASKS)


def measure(sampler: Sampler, probe: QueueProbe, replicas: int, window: float, low_water: int) -> Step:
    scaled_at = time.time()
    make("scale", SERVICE=WORKER, N=replicas)
    wait_for(lambda: probe.consumers(TASKS) == replicas, 60, f"{replicas} consumers on {TASKS}")
    time.sleep(SETTLE_S)
    start, sent_before = time.time(), mail_count()
    # the window ends early if the queue runs low: the workers would be starved, not measured
    starved = wait_until(lambda: sampler.latest[0] < low_water, window, 0.1, failure=None)
    end, sent_after = time.time(), mail_count()
    step = Step(replicas, scaled_at, (start, end), sent_after - sent_before, starved)
    say(
        f"  {replicas} worker(s): {step.rate:6.1f} emails/s over {end - start:.1f}s, "
        f"{sampler.latest[0]} tasks left"
    )
    return step


def plot(sampler: Sampler, steps: list[Step], path) -> None:
    plt = pyplot()
    t0 = sampler.points[0][0]
    times = [t - t0 for t, _ in sampler.points]
    depths = [depth for _, (depth, _, _) in sampler.points]
    rate_times, rates = [], []
    for (t1, (_, _, m1)), (t2, (_, _, m2)) in zip(sampler.points, sampler.points[4:], strict=False):
        rate_times.append((t1 + t2) / 2 - t0)
        rates.append((m2 - m1) / (t2 - t1))
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    top.plot(times, depths, color="tab:blue")
    top.set_ylabel(f"tasks waiting in {TASKS}")
    bottom.plot(rate_times, rates, color="tab:green", linewidth=1)
    bottom.set_ylabel("emails sent per second")
    bottom.set_xlabel("seconds")
    for step in steps:
        for axis in (top, bottom):
            axis.axvline(step.scaled_at - t0, color="grey", linestyle="--", linewidth=1)
            axis.axvspan(step.window[0] - t0, step.window[1] - t0, color="tab:green", alpha=0.08)
        top.annotate(
            f"scale → {step.replicas}",
            (step.scaled_at - t0, max(depths) * 0.95),
            rotation=90,
            fontsize=8,
            ha="right",
            va="top",
        )
        bottom.hlines(step.rate, step.window[0] - t0, step.window[1] - t0, color="black", linewidth=2)
        bottom.annotate(f"{step.rate:.1f}/s", (step.window[0] - t0, step.rate), fontsize=8, va="bottom")
    top.set_title("Draining a backlog of emails: only notifications-worker is scaled")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    steps = [int(n) for n in args.steps.split(",")]
    require_stack("orders", "notifications")
    before_delay = notify_delay_ms()
    probe = QueueProbe(broker_url())
    replicas_before = len(worker_processes())
    others_before = untouched_processes()
    pool, concurrency = worker_shape()
    orders = args.orders or burst_size(steps, concurrency * 1000 / args.delay_ms, args.window)
    say(f"Demo: scaling notifications workers {steps} against a backlog, {args.delay_ms} ms per email")

    sampler_probe = QueueProbe(broker_url())

    def sample() -> tuple[int, int, int]:
        depth, consumers = sampler_probe.queue(TASKS) or (0, 0)
        return depth, consumers, mail_count()

    measured: list[Step] = []
    try:
        set_notify_delay_ms(args.delay_ms)
        load, backlog = fill_queue(probe, orders, args.burst_rate)
        say(f"… {backlog} tasks waiting; scaling the worker step by step")
        with Sampler(sample) as sampler:
            for replicas in steps:
                low_water = 2 * replicas * concurrency + 5
                measured.append(measure(sampler, probe, replicas, args.window, low_water))
            say("… letting the rest of the backlog drain")
            wait_for(lambda: sampler.latest[0] == 0, 60 + backlog / 5, f"{TASKS} to be empty", 0.5)
            time.sleep(1)
    finally:
        set_notify_delay_ms(before_delay)
        make("scale", SERVICE=WORKER, N=replicas_before)
        probe.close()
    others_after = untouched_processes()
    restarted = sorted(n for n, p in others_before.items() if others_after.get(n) != p)
    if restarted:
        raise DemoError(f"processes other than {WORKER} restarted during the demo: {restarted}")

    base = measured[0].rate / measured[0].replicas
    rates = {str(s.replicas): round(s.rate, 2) for s in measured}
    efficiency = {str(s.replicas): round(s.rate / (s.replicas * base), 3) for s in measured}
    per_process = round(base * args.delay_ms / 1000, 2)
    path = artifacts(NAME) / "scale.png"
    plot(sampler, measured, path)

    top = measured[-1]
    lines = [
        "",
        f"Scaling notifications workers: {len(load.accepted())} orders → {backlog} email tasks waiting, "
        f"{args.delay_ms} ms per email",
        "",
        "  workers  emails/s   efficiency = rate(N) / (N x rate(1))",
    ]
    for step in measured:
        note = "  (queue ran low: window cut short)" if step.starved else ""
        lines.append(f"  {step.replicas:>7}  {step.rate:8.1f}   {efficiency[str(step.replicas)]:.2f}{note}")
    processes = "one process, threads" if pool in ("threads", "solo") else f"{concurrency} child processes"
    lines += [
        "",
        f"One replica is one Celery worker (--pool {pool}) running {concurrency} tasks at once "
        f"(NOTIFICATIONS_WORKER_CONCURRENCY): {processes} per replica. At {args.delay_ms} ms per "
        f"email it sends {base:.1f}/s, i.e. {per_process:.2f} emails in flight on average: "
        "the rates above are per replica.",
        f"Efficiency at {top.replicas} workers: {efficiency[str(top.replicas)]:.2f} "
        f"(bar ≥ {BAR}: {'met' if efficiency[str(top.replicas)] >= BAR else 'NOT met'}).",
        f"No other process was restarted ({len(others_before)} checked); "
        f"delay back to {before_delay} ms, workers back to {replicas_before}.",
        f"Plot: {path}",
    ]
    report(lines)
    emit(
        {
            "rates_per_replicas": rates,
            "efficiency_at_max": efficiency[str(top.replicas)],
            "efficiency": efficiency,
            "delay_ms": args.delay_ms,
            "orders": len(load.accepted()),
            "backlog": backlog,
            "emails_in_flight_per_replica": per_process,
            "starved_steps": [s.replicas for s in measured if s.starved],
        },
        NAME,
    )


if __name__ == "__main__":
    run_demo(main)
