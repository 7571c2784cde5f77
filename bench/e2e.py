"""End-to-end benchmark of the whole shop against this machine's ceiling, in one run.

    python -m bench.e2e [--rate 100 --paced-seconds 20 --flat-seconds 20 --repeats 3 --chain-orders 5000]

1. The shop: the whole local stack (`make dev`: supervisord, infra/dev/) booted in its
   own vhost, Redis prefix, run folder and free ports. Orders are placed over HTTP at a
   steady rate (latency), then flat out (throughput). An observer queue bound to the
   order outcomes and `notification.sent` timestamps each order's progress; at the end the
   SMTP sink is read to check that every order got exactly one email.
2. The ceiling: a bare pika chain of the same events with a Redis write and a confirmed
   publish per hop (bench/chain.py), on the same broker and Redis, run just before each
   flat-out phase while the shop is idle. The machine is shared and its speed drifts, so
   chain and shop alternate `--repeats` times and the headline takes the medians.

Reported: sustained end-to-end orders/s (per flat-out phase: orders / (last email - first
POST); the median), placed → confirmed and placed → email sent latency at the steady rate,
intake (POST) latency, CPU per order with its profile (CPU by process, broker messages, Redis
commands and log lines per order), the chain's CPU per order split the same way (its processes,
broker, Redis), and the ratio of the medians, shop to chain. Progress goes to
stderr; results to artifacts/bench/ (JSON, PNG); the last line printed is one JSON object
with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import chain
from bench.cpu_meter import CpuMeter
from bench.observer import Observer
from bench.placing import Placements, place_orders
from bench.plot import plot
from bench.summary import report, summarize
from bench.traffic import LogLines, redis_commands, settled_broker_traffic, traffic_per_order
from harness.launcher import sandboxed_stack
from harness.mail import Mailbox
from harness.sandbox import REDIS_URL, Sandbox, create_sandbox, destroy_sandbox, quiescent
from harness.waiting import wait_until

SHOP_SERVICES = ("orders", "payments", "notifications", "dashboard")  # the queues a bench stack owns
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "bench"


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=100, help="orders/s of the steady phase")
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument("--flat-seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=8, help="HTTP connections placing orders")
    parser.add_argument("--chain-orders", type=int, default=5000, help="orders through the bare chain")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds of bare chain then flat out; medians are reported"
    )
    parser.add_argument("--drain-timeout", type=float, default=180, help="seconds to wait for every email")
    parser.add_argument(
        "--scale", action="append", default=[], metavar="PROCESS=N", help="e.g. payments-worker=2"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra stack environment"
    )
    parser.add_argument("--out", type=Path, default=ARTIFACTS, help="where results.json and e2e.png go")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def wait_until_idle(sandbox: Sandbox, timeout: float) -> None:
    """Until every queue of the shop is empty, unacked messages included (the dashboard may
    still be catching up after the last email): the chain must not share the CPU with it."""
    if not wait_until(lambda: quiescent(sandbox, *SHOP_SERVICES), timeout, 0.5, failure=None):
        progress("  the shop is still busy")


def bench_stack(args: argparse.Namespace, measure_chain: Callable[[], dict[str, Any]]) -> dict[str, object]:
    """The shop's phases; `measure_chain` runs before each flat-out phase, on the idle shop."""
    overrides = dict(item.split("=", 1) for item in args.env)
    with sandboxed_stack("bench", **overrides) as stack:
        progress(f"booting the stack in vhost {stack.sandbox.vhost}, run folder {stack.dir}")
        stack.up()
        for target, count in (item.split("=") for item in args.scale):
            progress(f"scaling {target} to {count}")
            stack.scale(target, int(count))
            stack.wait_ready(target)
        port = int(stack.environ["ORDERS_PORT"])
        observer = Observer(stack.sandbox.amqp_url)
        placements = Placements()

        progress(f"warming up: {args.rate} orders/s for 3 s")
        place_orders(port, "warmup", placements, rate=args.rate, seconds=3, threads=args.threads)
        observer.wait_for(len(placements.orders), args.drain_timeout, progress)

        progress(f"steady: {args.rate} orders/s for {args.paced_seconds} s")
        place_orders(
            port, "paced", placements, rate=args.rate, seconds=args.paced_seconds, threads=args.threads
        )
        observer.wait_for(len(placements.orders), args.drain_timeout, progress)

        broker_before = settled_broker_traffic(stack.sandbox.vhost)
        chain_runs: list[dict[str, Any]] = []
        cpu_s: Counter[str] = Counter()
        cpu_by_process: Counter[str] = Counter()
        commands: Counter[str] = Counter()
        log_lines: Counter[str] = Counter()
        logs = LogLines(stack.dir / "logs")
        for round_ in range(1, args.repeats + 1):
            wait_until_idle(stack.sandbox, args.drain_timeout)
            progress(f"round {round_}/{args.repeats}: bare chain, {args.chain_orders} orders")
            chain_runs.append(measure_chain())
            progress(f"  bare chain: {chain_runs[-1]['orders_per_s']:,.1f} orders/s")
            progress(f"round {round_}/{args.repeats}: flat out for {args.flat_seconds} s")
            commands_before = redis_commands()
            meter = CpuMeter(stack.supervisord_pid())
            meter.start()
            logs.start()
            place_orders(
                port, f"flat-{round_}", placements, rate=0, seconds=args.flat_seconds, threads=args.threads
            )
            counts = observer.wait_for(len(placements.orders), args.drain_timeout, progress)
            used, by_process = meter.stop()
            log_lines.update(logs.stop())
            cpu_s.update(used)
            cpu_by_process.update(by_process)
            commands.update(redis_commands() - commands_before)
        progress("reading the broker's message counts")
        broker_after = settled_broker_traffic(stack.sandbox.vhost)
        progress(f"all in: {counts}; reading the SMTP sink")
        seen = observer.dump()
        mail = Mailbox(stack.url("smtp-sink")).list()
        progress("stopping the stack")
    result = summarize(placements, seen, mail, cpu_s)
    result["flat"]["cpu_s_by_process"] = {k: round(v, 2) for k, v in sorted(cpu_by_process.items())}
    broker = {kind: broker_after[kind] - broker_before[kind] for kind in broker_after}
    completed = sum(r["done"] for r in result["flat"]["rounds"])
    result["flat"]["per_order"] = traffic_per_order(
        broker, commands, cpu_by_process, log_lines, max(1, completed)
    )
    result["chain_runs"] = chain_runs
    return result


def measure_chain(sandbox: Sandbox, orders: int) -> dict[str, Any]:
    """One run of the bare chain with the CPU seconds it took, split like the shop's profile:
    the chain's processes (it measures them itself), the broker and Redis."""
    meter, around = CpuMeter(), {}
    run: dict[str, Any] = dict(
        chain.measure(
            sandbox.amqp_url, REDIS_URL, sandbox.redis_prefix, orders, window=lambda: meter.window(around)
        )
    )
    run["cpu_s"] = {"chain": round(run["cpu_s"], 3), **{k: round(v, 3) for k, v in around.items()}}
    return run


def save(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, out / "e2e.png")
    progress(f"wrote {out / 'results.json'} and {out / 'e2e.png'}")


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The figures of the last line printed, one JSON object."""
    stack = result["stack"]
    return {
        "orders_per_s": result["orders_per_s"],
        "chain_orders_per_s": result["chain_orders_per_s"],
        "ratio_to_chain": result["ratio_to_chain"],
        "latency_ms": stack["paced"]["latency_ms"],
        "intake_ms": {k: stack["paced"]["intake_ms"][k] for k in ("p50", "p99")},
        "orders": stack["orders"],
        "lost": stack["lost"],
        "mailed_once": stack["mailed_once"],
        "cpu_ms_per_order": stack["flat"]["cpu_ms_per_order"],
    }


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    sandbox = create_sandbox("chain")
    try:
        stack = bench_stack(args, lambda: measure_chain(sandbox, args.chain_orders))
    finally:
        destroy_sandbox(sandbox)
    orders_per_s = stack["flat"]["orders_per_s"]
    chain_runs = stack.pop("chain_runs")
    chain_orders_per_s = statistics.median(run["orders_per_s"] for run in chain_runs)
    chain_orders = sum(run["orders"] for run in chain_runs)
    chain_cpu = {  # pooled over the rounds, as the shop's is
        group: round(1000 * sum(run["cpu_s"][group] for run in chain_runs) / chain_orders, 2)
        for group in chain_runs[0]["cpu_s"]
    }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {**vars(args), "out": str(args.out)},
        "orders_per_s": orders_per_s,
        "chain_orders_per_s": round(chain_orders_per_s, 1),
        "ratio_to_chain": round(orders_per_s / chain_orders_per_s, 3),
        "chain": {"runs": chain_runs, "cpu_ms_per_order": chain_cpu},
        "stack": stack,
    }
    save(result, args.out)
    report(result)
    print(json.dumps(headline(result)), flush=True)
    return 0 if stack["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
