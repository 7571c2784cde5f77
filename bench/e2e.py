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
intake (POST) latency, CPU per order with its profile (CPU by process, broker messages and
Redis commands per order), the chain's CPU per order split the same way (its processes,
broker, Redis), and the ratio of the medians, shop to chain. Progress goes to
stderr; results to artifacts/bench/ (JSON, PNG); the last line printed is one JSON object
with the headline figures.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pika
import psutil
import redis
import requests

from bench import chain, cpu_time
from harness.mail import Mailbox
from harness.sandbox import REDIS_URL, Sandbox, create_sandbox, destroy_sandbox, quiescent
from harness.stats import percentiles
from infra.dev.stack import LocalStack
from infra.ports import free_port
from infra.stack import PORT_VARIABLES
from shared.topology import EVENTS_EXCHANGE

MANAGEMENT_URL = os.environ.get("MANAGEMENT_URL", "http://guest:guest@127.0.0.1:15672")
STATS_INTERVAL_S = 5.0  # RabbitMQ's collect_statistics_interval: its counts lag by up to this
SHOP_SERVICES = ("orders", "payments", "notifications", "dashboard")  # the queues a bench stack owns
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "bench"
OBSERVED = {"order.confirmed": "terminal", "order.cancelled": "terminal", "notification.sent": "notified"}
ORDER = json.dumps(
    {
        "customer_email": "bench@example.com",
        "items": [{"sku": "MUG-CERAMIC", "qty": 1}],
        "payment_token": "tok_visa",
    }
).encode()


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---- the observer: when did each order become terminal, when was its email sent -----------


def observe(amqp_url: str, parent: Connection) -> None:
    """Child process: timestamps outcome and notification.sent events as they are published.

    An exclusive, server-named queue: a measuring tool, not part of the shop's topology.
    The parent asks for counts ("count") and finally for every timestamp ("dump").
    """
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    for routing_key in OBSERVED:
        channel.queue_bind(queue, EVENTS_EXCHANGE, routing_key)
    seen: dict[str, dict[str, list[float]]] = {kind: {} for kind in set(OBSERVED.values())}

    def on_message(_ch: object, _method: object, _props: object, body: bytes) -> None:
        now = time.time()
        event = json.loads(body)
        seen[OBSERVED[event["type"]]].setdefault(event["data"]["order_id"], []).append(now)

    channel.basic_consume(queue, on_message, auto_ack=True)
    parent.send("ready")
    while True:
        connection.process_data_events(time_limit=0.05)
        if parent.poll():
            if parent.recv() == "count":
                parent.send({kind: len(orders) for kind, orders in seen.items()})
            else:
                parent.send(seen)
                break
    connection.close()


class Observer:
    def __init__(self, amqp_url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._child, child_end = ctx.Pipe()
        self.process = ctx.Process(target=observe, args=(amqp_url, child_end), daemon=True)
        self.process.start()
        if not self._child.poll(30):
            raise RuntimeError("the observer did not start")
        self._child.recv()

    def counts(self) -> dict[str, int]:
        self._child.send("count")
        return self._child.recv()

    def dump(self) -> dict[str, dict[str, list[float]]]:
        self._child.send("dump")
        seen = self._child.recv()
        self.process.join(timeout=10)
        return seen


# ---- placing orders ----------------------------------------------------------------------


@dataclass
class Placed:
    order_id: str
    sent_at: float  # wall clock, comparable with the observer's timestamps
    intake_s: float
    phase: str


@dataclass
class Placements:
    orders: list[Placed] = field(default_factory=list)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def place_orders(
    port: int, phase: str, placements: Placements, *, rate: float, seconds: float, threads: int
) -> None:
    """POST orders for `seconds`: open loop at `rate` per second, or flat out when rate is 0."""
    started = time.monotonic()
    next_slot = iter(range(10**9))
    slot_lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json"}
        while True:
            if rate:
                with slot_lock:
                    due = started + next(next_slot) / rate
                if due - started >= seconds:
                    return
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            elif time.monotonic() - started >= seconds:
                return
            sent_at, clock = time.time(), time.perf_counter()
            try:
                connection.request("POST", "/api/orders", ORDER, headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                with placements.lock:
                    placements.errors += 1
                continue
            intake_s = time.perf_counter() - clock
            with placements.lock:
                if response.status == 202:
                    placements.orders.append(Placed(json.loads(body)["id"], sent_at, intake_s, phase))
                else:
                    placements.errors += 1

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


# ---- CPU of the stack --------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used by the broker, Redis and, if given, the stack (supervisord and every
    process under it), between start() and stop(). Sampled every half second, so processes
    that come and go (gunicorn recycles its workers) count up to their last sample."""

    def __init__(self, supervisord_pid: int | None = None) -> None:
        self.supervisord = psutil.Process(supervisord_pid) if supervisord_pid else None
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.group: dict[int, str] = {}
        self.label: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_forever, daemon=True)

    def _processes(self) -> Iterator[tuple[str, psutil.Process]]:
        if self.supervisord:
            yield "stack", self.supervisord  # it carries every process's output to the log files
            for child in self.supervisord.children(recursive=True):
                yield "stack", child
        for process in psutil.process_iter(["name"]):
            name = process.info["name"] or ""
            if name.startswith("beam.smp"):
                yield "rabbitmq", process
            elif name.startswith("redis-server"):
                yield "redis", process

    def _sample(self, initial: bool = False) -> None:
        for group, process in self._processes():
            with contextlib.suppress(psutil.Error):
                used = cpu_time.of_process(process)
                self.first.setdefault(process.pid, used if initial else 0.0)  # new since start(): all of it
                self.last[process.pid] = used
                if process.pid not in self.group:
                    self.group[process.pid] = group
                    self.label[process.pid] = _label(process) if group == "stack" else group

    def _sample_forever(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def start(self) -> None:
        self._sample(initial=True)
        self._thread.start()

    def stop(self) -> tuple[dict[str, float], dict[str, float]]:
        self._stop.set()
        self._thread.join()
        self._sample()
        used: dict[str, float] = {"rabbitmq": 0.0, "redis": 0.0}
        if self.supervisord:
            used["stack"] = 0.0
        by_process: dict[str, float] = {}
        for pid, last in self.last.items():
            delta = last - self.first.get(pid, 0.0)
            used[self.group[pid]] += delta
            by_process[self.label[pid]] = by_process.get(self.label[pid], 0.0) + delta
        return used, by_process


def _label(process: psutil.Process) -> str:
    """`orders-api`, `payments-worker`, ...: the Procfile process a pid belongs to."""
    command = " ".join(process.cmdline())
    for token in command.replace("'", " ").replace(":", " ").split():
        if token.startswith(("services.", "infra.smtp_sink")):
            parts = token.split(".")
            if parts[0] == "infra":
                return "smtp-sink"
            kind = {"app": "api"}.get(parts[2], parts[2]) if len(parts) > 2 else "?"
            return f"{parts[1]}-{kind}"
    return "supervisord" if "supervisord" in command else process.name()


# ---- where the work goes: broker and Redis traffic --------------------------------------


def broker_traffic(vhost: str) -> dict[str, int]:
    """Messages handled in the vhost so far: published to exchanges; and, over the shop's
    queues (the observer's server-named queue left out), enqueued (a message counts once per
    queue it was routed to, the event log stream included), delivered and acknowledged."""
    api, name = f"{MANAGEMENT_URL}/api", quote(vhost, safe="")
    vhost_stats = requests.get(f"{api}/vhosts/{name}", timeout=10).json().get("message_stats", {})
    totals = {"published": vhost_stats.get("publish", 0), "enqueued": 0, "delivered": 0, "acked": 0}
    for queue in requests.get(f"{api}/queues/{name}", timeout=10).json():
        if queue["name"].startswith("amq.gen-"):
            continue
        stats = queue.get("message_stats", {})
        totals["enqueued"] += stats.get("publish", 0)
        totals["delivered"] += stats.get("deliver_get", 0)
        totals["acked"] += stats.get("ack", 0)
    return totals


def settled_broker_traffic(vhost: str) -> dict[str, int]:
    """The counts once the management plugin has caught up: two samples an interval apart agree."""
    last = broker_traffic(vhost)
    for _ in range(4):
        time.sleep(STATS_INTERVAL_S + 0.5)
        now = broker_traffic(vhost)
        if now == last:
            break
        last = now
    return last


def redis_commands() -> Counter[str]:
    """Commands the Redis server ran so far, by name (those inside Lua scripts included)."""
    stats = redis.Redis.from_url(REDIS_URL).info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()})


def traffic_per_order(
    broker: dict[str, int], commands: Counter[str], cpu_by_process: dict[str, float], orders: int
) -> dict[str, object]:
    """The profile of the flat-out phase, per order: the figures that show where the work goes."""
    return {
        "cpu_ms_by_process": {
            name: round(1000 * seconds / orders, 2)
            for name, seconds in sorted(cpu_by_process.items(), key=lambda item: -item[1])
            if 1000 * seconds / orders >= 0.05  # idle processes (the read APIs) left out
        },
        "broker_messages": {kind: round(count / orders, 2) for kind, count in broker.items()},
        "redis_commands": round(commands.total() / orders, 1),
        "redis_commands_by_name": {name: round(n / orders, 2) for name, n in commands.most_common(10)},
    }


# ---- the run -----------------------------------------------------------------------------


@contextlib.contextmanager
def sandboxed_stack(env_overrides: dict[str, str]) -> Iterator[tuple[Sandbox, LocalStack]]:
    sandbox = create_sandbox("bench")
    run_dir = tempfile.mkdtemp(prefix="shop-bench-")  # short: supervisord's socket path is limited
    environ = {
        **os.environ,
        **sandbox.env(),
        **{name: str(free_port()) for name in PORT_VARIABLES},
        "RUN_DIR": run_dir,
        **env_overrides,
    }
    stack = LocalStack(environ)
    failed = False
    try:
        progress(f"booting the stack in vhost {sandbox.vhost}, run folder {run_dir}")
        stack.up()
        yield sandbox, stack
    except BaseException:
        failed = True
        progress(f"failed: the processes' logs are kept in {run_dir}/logs")
        raise
    finally:
        progress("stopping the stack")
        stack.shutdown()
        if not failed:
            shutil.rmtree(run_dir, ignore_errors=True)
        destroy_sandbox(sandbox)


def wait_until_idle(sandbox: Sandbox, timeout: float) -> None:
    """Until every queue of the shop is empty, unacked messages included (the dashboard may
    still be catching up after the last email): the chain must not share the CPU with it."""
    deadline = time.monotonic() + timeout
    while not quiescent(sandbox, *SHOP_SERVICES):
        if time.monotonic() > deadline:
            progress("  the shop is still busy")
            return
        time.sleep(0.5)


def wait_for(observer: Observer, placed: int, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    last_report = 0.0
    while True:
        counts = observer.counts()
        if counts["notified"] >= placed and counts["terminal"] >= placed:
            return counts
        if time.monotonic() > deadline:
            progress(f"gave up waiting: {counts} of {placed}")
            return counts
        if time.monotonic() - last_report > 5:
            progress(f"  {counts['terminal']} terminal, {counts['notified']} notified of {placed}")
            last_report = time.monotonic()
        time.sleep(0.2)


def bench_stack(args: argparse.Namespace, measure_chain: Callable[[], dict[str, Any]]) -> dict[str, object]:
    """The shop's phases; `measure_chain` runs before each flat-out phase, on the idle shop."""
    overrides = dict(item.split("=", 1) for item in args.env)
    with sandboxed_stack(overrides) as (sandbox, stack):
        for target, count in (item.split("=") for item in args.scale):
            progress(f"scaling {target} to {count}")
            stack.scale(target, int(count))
            stack.wait_ready(target)
        port = int(stack.environ["ORDERS_PORT"])
        observer = Observer(sandbox.amqp_url)
        placements = Placements()

        progress(f"warming up: {args.rate} orders/s for 3 s")
        place_orders(port, "warmup", placements, rate=args.rate, seconds=3, threads=args.threads)
        wait_for(observer, len(placements.orders), args.drain_timeout)

        progress(f"steady: {args.rate} orders/s for {args.paced_seconds} s")
        place_orders(
            port, "paced", placements, rate=args.rate, seconds=args.paced_seconds, threads=args.threads
        )
        wait_for(observer, len(placements.orders), args.drain_timeout)

        broker_before = settled_broker_traffic(sandbox.vhost)
        chain_runs: list[dict[str, Any]] = []
        cpu_s: Counter[str] = Counter()
        cpu_by_process: Counter[str] = Counter()
        commands: Counter[str] = Counter()
        for round_ in range(1, args.repeats + 1):
            wait_until_idle(sandbox, args.drain_timeout)
            progress(f"round {round_}/{args.repeats}: bare chain, {args.chain_orders} orders")
            chain_runs.append(measure_chain())
            progress(f"  bare chain: {chain_runs[-1]['orders_per_s']:,.1f} orders/s")
            progress(f"round {round_}/{args.repeats}: flat out for {args.flat_seconds} s")
            commands_before = redis_commands()
            meter = CpuMeter(int((stack.dir / "supervisord.pid").read_text()))
            meter.start()
            place_orders(
                port, f"flat-{round_}", placements, rate=0, seconds=args.flat_seconds, threads=args.threads
            )
            counts = wait_for(observer, len(placements.orders), args.drain_timeout)
            used, by_process = meter.stop()
            cpu_s.update(used)
            cpu_by_process.update(by_process)
            commands.update(redis_commands() - commands_before)
        progress("reading the broker's message counts")
        broker_after = settled_broker_traffic(sandbox.vhost)
        progress(f"all in: {counts}; reading the SMTP sink")
        seen = observer.dump()
        mail = Mailbox(f"http://127.0.0.1:{stack.environ['SMTP_SINK_HTTP_PORT']}").list()
    result = summarize(placements, seen, mail, cpu_s)
    result["flat"]["cpu_s_by_process"] = {k: round(v, 2) for k, v in sorted(cpu_by_process.items())}
    broker = {kind: broker_after[kind] - broker_before[kind] for kind in broker_after}
    completed = sum(r["done"] for r in result["flat"]["rounds"])
    result["flat"]["per_order"] = traffic_per_order(broker, commands, cpu_by_process, max(1, completed))
    result["chain_runs"] = chain_runs
    return result


def summarize(
    placements: Placements, seen: dict[str, dict[str, list[float]]], mail: list, cpu_s: dict[str, float]
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


def flat_round(
    placed: list[Placed], complete_ids: set[str], seen: dict[str, dict[str, list[float]]]
) -> dict[str, float]:
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


def timeline(orders: list[Placed], seen: dict[str, dict[str, list[float]]]) -> dict[str, list[int]]:
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


def save(result: dict[str, object], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    stack = result["stack"]
    fig, (left, middle, right, profile) = plt.subplots(
        1, 4, figsize=(20, 4.8), gridspec_kw={"width_ratios": [3, 1.4, 1.2, 1.8]}
    )
    for name, counts in stack["timeline"].items():
        left.plot(range(len(counts)), counts, label=name)
    left.set_xlabel("seconds since the first order")
    left.set_ylabel("orders / second")
    left.set_title("Orders placed, terminal, emailed (steady, then flat out)")
    left.legend()
    latency = stack["paced"]["latency_ms"]
    labels = ["p50", "p95", "p99"]
    width = 0.38
    xs = range(len(labels))
    bars = middle.bar(
        [x - width / 2 for x in xs], [latency["confirmed"][k] for k in labels], width, label="confirmed"
    )
    middle.bar_label(bars, fmt="{:.0f}", fontsize=8)
    bars = middle.bar(
        [x + width / 2 for x in xs], [latency["notified"][k] for k in labels], width, label="email sent"
    )
    middle.bar_label(bars, fmt="{:.0f}", fontsize=8)
    middle.set_xticks(list(xs), labels)
    middle.set_ylabel("ms after POST")
    middle.set_title(f"Latency at {result['settings']['rate']} orders/s")
    middle.legend()
    bars = right.bar(
        ["shop", "bare chain"],
        [result["orders_per_s"], result["chain_orders_per_s"]],
        color=["#2b7bba", "#999999"],
    )
    right.bar_label(bars, fmt="{:,.0f}")
    runs = [
        [r["orders_per_s"] for r in stack["flat"]["rounds"]],
        [r["orders_per_s"] for r in result["chain"]["runs"]],
    ]
    for x, values in enumerate(runs):
        right.scatter(
            [x] * len(values), values, color="black", s=12, zorder=3, label="runs" if x == 0 else None
        )
    right.legend(fontsize=8)
    right.set_ylabel("orders / second, end to end (medians)")
    right.set_title(f"Ratio of the medians: {result['ratio_to_chain']:.2f}")
    per_order = stack["flat"]["per_order"]
    cpu = per_order["cpu_ms_by_process"]
    bars = profile.barh(list(cpu)[::-1], list(cpu.values())[::-1], color="#2b7bba")
    profile.bar_label(bars, fmt="{:.1f}", fontsize=8)
    profile.tick_params(axis="y", labelsize=8)
    profile.set_xlabel("CPU ms per order, flat out")
    broker = per_order["broker_messages"]
    chain_cpu = result["chain"]["cpu_ms_per_order"]
    profile.set_title(
        f"{stack['flat']['cpu_ms_per_order']} ms CPU per order (bare chain "
        f"{sum(chain_cpu.values()):.1f}, its broker {chain_cpu['rabbitmq']:.1f})\n"
        f"broker: {broker['enqueued']:.1f} enqueued, {broker['delivered']:.1f} delivered per order "
        f"(chain {chain.MESSAGES_PER_ORDER}, {chain.MESSAGES_PER_ORDER})\n"
        f"Redis per order: {per_order['redis_commands']:.0f} commands",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(out / "e2e.png", dpi=110)
    plt.close(fig)
    progress(f"wrote {out / 'results.json'} and {out / 'e2e.png'}")


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
        f"  bare chain: {result['chain_orders_per_s']:,.1f} orders/s, the median of "
        f"{[round(run['orders_per_s'], 1) for run in result['chain']['runs']]}; "
        f"ratio of the medians {result['ratio_to_chain']:.2f}",
        "",
    ]
    print("\n".join(lines), flush=True)


def measure_chain(sandbox: Sandbox, orders: int) -> dict[str, Any]:
    """One run of the bare chain with the CPU seconds it took, split like the shop's profile:
    the chain's processes (it measures them itself), the broker and Redis."""
    meter = CpuMeter()
    around: dict[str, float] = {}

    @contextlib.contextmanager
    def window() -> Iterator[None]:
        meter.start()
        try:
            yield
        finally:
            around.update(meter.stop()[0])

    run: dict[str, Any] = dict(
        chain.measure(sandbox.amqp_url, REDIS_URL, sandbox.redis_prefix, orders, window=window)
    )
    run["cpu_s"] = {"chain": round(run["cpu_s"], 3), **{k: round(v, 3) for k, v in around.items()}}
    return run


def main(argv: list[str] | None = None) -> int:
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
    print(
        json.dumps(
            {
                "orders_per_s": orders_per_s,
                "chain_orders_per_s": result["chain_orders_per_s"],
                "ratio_to_chain": result["ratio_to_chain"],
                "latency_ms": stack["paced"]["latency_ms"],
                "intake_ms": {k: stack["paced"]["intake_ms"][k] for k in ("p50", "p99")},
                "orders": stack["orders"],
                "lost": stack["lost"],
                "mailed_once": stack["mailed_once"],
                "cpu_ms_per_order": stack["flat"]["cpu_ms_per_order"],
            }
        ),
        flush=True,
    )
    return 0 if stack["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
