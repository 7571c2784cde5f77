"""A soak: the whole local stack under a steady load for a long time, to see whether memory stays
flat and latency does not drift.

    python -m bench.soak [--minutes 30 --rate 40 --sample-seconds 10]     (make soak MINUTES= RATE=)

The stack boots in its own vhost, Redis prefix and run folder (as `make bench`'s). Orders are
placed at `--rate` for `--minutes`; every `--sample-seconds` the RSS and CPU of each process (the
stack's, the broker's, Redis's) and the depth of the shop's queues are sampled, and an observer
timestamps every order's email (placed → email latency). Then bench/soak_summary.py judges:
the growth per hour of each process's memory and the latency from the first third of the run to
the last. Results go to artifacts/soak/ (summary.json, soak.png); progress to stderr. Exits 1 when
an order was lost, a process's memory grows or the latency drifts.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import quote

import psutil
import requests

from bench import cpu_time
from bench.cpu_meter import label, measured_processes
from bench.observer import Observer
from bench.placing import Placements, place_orders
from bench.soak_summary import Sample, plot, summarize
from bench.traffic import MANAGEMENT_URL
from harness.launcher import sandboxed_stack

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "soak"
MIB = 1024 * 1024


def progress(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30, help="how long orders are placed")
    parser.add_argument("--rate", type=float, default=40, help="orders/s")
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=4, help="HTTP connections placing orders")
    parser.add_argument(
        "--drain-timeout", type=float, default=180, help="seconds to wait for the last emails"
    )
    parser.add_argument("--out", type=Path, default=ARTIFACTS, help="where summary.json and soak.png go")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.sample_seconds <= 0:
        parser.error("--minutes, --rate and --sample-seconds must be positive")
    return args


class ProcessSampler:
    """RSS and cumulative CPU of each process type, summed over its instances."""

    def __init__(self, supervisord_pid: int) -> None:
        self._supervisord = psutil.Process(supervisord_pid)

    def sample(self) -> tuple[dict[str, float], dict[str, float]]:
        rss_mib: dict[str, float] = defaultdict(float)
        cpu_s: dict[str, float] = defaultdict(float)
        for group, process in measured_processes(self._supervisord):
            try:
                name = label(process, group)
                rss_mib[name] += process.memory_info().rss / MIB
                cpu_s[name] += cpu_time.of_process(process)
            except psutil.Error:
                continue  # gone between the listing and the reading
        return dict(rss_mib), dict(cpu_s)


def queued(vhost: str) -> int:
    """Messages waiting in the vhost's queues, ready and unacked: not the event log (a stream
    keeps what it was given), nor the observer's own queue."""
    url = f"{MANAGEMENT_URL}/api/queues/{quote(vhost, safe='')}?columns=name,type,messages"
    return sum(
        q.get("messages", 0)
        for q in requests.get(url, timeout=10).json()
        if q.get("type") != "stream" and not q["name"].startswith("amq.gen-")
    )


def soak(args: argparse.Namespace) -> dict[str, object]:
    with sandboxed_stack("soak") as stack:
        progress(f"booting the stack in vhost {stack.sandbox.vhost}, run folder {stack.dir}")
        stack.up()
        observer = Observer(stack.sandbox.amqp_url)
        placements = Placements()
        processes = ProcessSampler(stack.supervisord_pid())
        seconds = 60 * args.minutes
        placing = threading.Thread(
            target=place_orders,
            args=(int(stack.environ["ORDERS_PORT"]), "soak", placements),
            kwargs={"rate": args.rate, "seconds": seconds, "threads": args.threads},
            daemon=True,
        )
        progress(f"{args.rate} orders/s for {args.minutes} min, a sample every {args.sample_seconds} s")
        started = time.time()
        placing.start()
        samples: list[Sample] = []
        while placing.is_alive():
            rss_mib, cpu_s = processes.sample()
            samples.append(
                Sample(
                    time.time() - started, rss_mib, cpu_s, queued(stack.sandbox.vhost), len(placements.orders)
                )
            )
            if len(samples) % max(1, round(60 / args.sample_seconds)) == 0:
                progress(
                    f"  {samples[-1].at_s / 60:.0f} min: {samples[-1].placed} orders placed, "
                    f"{samples[-1].queued} messages queued, RSS {sum(rss_mib.values()):,.0f} MiB"
                )
            placing.join(timeout=max(0.0, started + len(samples) * args.sample_seconds - time.time()))
        progress("waiting for the last emails")
        observer.wait_for(len(placements.orders), args.drain_timeout, progress)
        seen = observer.dump()
    settings = {"minutes": args.minutes, "rate": args.rate, "sample_seconds": args.sample_seconds}
    return summarize(settings, started, placements, seen, samples)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    result = soak(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out / "soak.png")
    progress(f"wrote {args.out / 'summary.json'} and {args.out / 'soak.png'}")
    print(json.dumps(result["verdict"]), flush=True)
    return 0 if result["verdict"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
