"""Event bus throughput: the library against raw pika, on the same broker, in one run.

    python -m bench.bus [--reps 5] [--messages 15000]

Three ways to move the same events (same bodies, same quorum queue behind `shop.events`,
persistent messages) from a publisher to a consumer in another process:

- library: `Publisher.publish_many` (confirmed, many confirms in flight) and
  `EventConsumer` with a trivial handler (decode, validate, ack after the handler);
- raw unconfirmed: pika `basic_publish` without confirms, `basic_consume` with manual acks;
- one confirm per round trip: pika `BlockingChannel.confirm_delivery`, one publish at a time.

Each figure is end to end: from the first publish until the consumer has the last message.

And what a message costs the library's consumer in CPU, with its handlers on a pool
(`workers=4`) or on its I/O thread (`workers=0`), in a burst and when messages arrive one
at a time, 5 ms apart, as they do between the shop's processes at its rates: every
arrival then costs a whole round of pika's I/O loop.

Every run uses its own throwaway vhost. Results (table, JSON, PNG) go to artifacts/bench-bus/;
the last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pika

from bench import chain, cpu_time
from harness.plots import pyplot
from harness.probe import wait_for_consumers
from harness.sandbox import Sandbox, create_sandbox, destroy_sandbox
from harness.waiting import wait_until
from shared import topology
from shared.consumer import EventConsumer
from shared.envelope import Event, new_event
from shared.publisher import Publisher, event_message
from shared.settings import Settings

SERVICE = "bench"
EVENT_TYPE = "order.placed"
PREFETCH = 500
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "bench-bus"
LIBRARY = "library"
RAW = "raw_unconfirmed"
ONE_CONFIRM = "one_confirm_per_round_trip"
ARRIVAL_GAP_S = 0.005
# The consumer CPU measurements: (handler threads, seconds between two publishes)
CPU_MODES = {
    "pool_burst": (4, 0.0),
    "pool_one_at_a_time": (4, ARRIVAL_GAP_S),
    "inline_burst": (0, 0.0),
    "inline_one_at_a_time": (0, ARRIVAL_GAP_S),
}


def make_events(count: int) -> list[Event]:
    return [
        new_event(
            EVENT_TYPE,
            {
                "order_id": str(uuid.UUID(int=i)),
                "customer_email": "bench@example.com",
                "items": [{"sku": "SKU-1", "qty": 1, "unit_price_cents": 1250}],
                "total_cents": 1250,
                "currency": "EUR",
                "payment_token": "tok_visa",
            },
            source="bench",
        )
        for i in range(count)
    ]


# ---- consumers (each in its own process, so publisher and consumer do not share a GIL) ----


def library_consumer(
    amqp_url: str, count: int, done: multiprocessing.connection.Connection, workers: int = 4
) -> None:
    """Sends when it has the last message, and its CPU per message from the first to the last."""
    settings = Settings(service=SERVICE, amqp_url=amqp_url)
    seen = 0
    first_cpu = 0.0
    lock = threading.Lock()

    def handle(_event: Event) -> None:
        nonlocal seen, first_cpu
        with lock:
            seen += 1
            if seen == 1:
                first_cpu = cpu_time.of_this_process()
            last = seen == count
        if last:
            done.send((time.monotonic(), (cpu_time.of_this_process() - first_cpu) / max(1, count - 1)))
            consumer.stop()

    consumer = EventConsumer(SERVICE, {EVENT_TYPE: handle}, settings, prefetch=PREFETCH, workers=workers)
    consumer.run(install_signal_handlers=False)


def raw_consumer(amqp_url: str, count: int, done: multiprocessing.connection.Connection) -> None:
    chain.acknowledge(amqp_url, SERVICE, count, PREFETCH, lambda: done.send((time.monotonic(), None)))


# ---- publishers (in this process) ----------------------------------------------------------


def publish_with_library(amqp_url: str, events: list[Event], *, gap_s: float = 0.0) -> Callable[[], None]:
    """All at once (many confirms in flight), or one at a time `gap_s` apart."""
    publisher = Publisher(amqp_url, name="bench-publisher")
    wait_until(lambda: publisher.connected, 10, 0.01, "the publisher's connection", failure=RuntimeError)

    def run() -> None:
        if gap_s:
            for event in events:
                publisher.publish(event)
                time.sleep(gap_s)
        else:
            publisher.publish_many(events, timeout=120)
        publisher.close()

    return run


def publish_raw(amqp_url: str, events: list[Event], *, confirm: bool) -> Callable[[], None]:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    if confirm:
        channel.confirm_delivery()
    messages = [event_message(e) for e in events]

    def run() -> None:
        for m in messages:
            channel.basic_publish(m.exchange, m.routing_key, m.body, m.properties, mandatory=confirm)
        connection.close()

    return run


# ---- one measurement -----------------------------------------------------------------------


def measure(
    mode: str, amqp_url: str, events: list[Event], *, workers: int = 4, gap_s: float = 0.0
) -> tuple[float, float | None]:
    """Messages per second from the first publish to the last message in the consumer's hands,
    and the library consumer's CPU seconds per message (None for raw pika)."""
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    if mode == LIBRARY:
        arguments = (amqp_url, len(events), sender, workers)
        child = ctx.Process(target=library_consumer, args=arguments, daemon=True)
    else:
        child = ctx.Process(target=raw_consumer, args=(amqp_url, len(events), sender), daemon=True)
    child.start()
    try:
        wait_for_consumers(amqp_url, {SERVICE: child}, f"the {mode} consumer")
        if mode == LIBRARY:
            publish = publish_with_library(amqp_url, events, gap_s=gap_s)
        else:
            publish = publish_raw(amqp_url, events, confirm=mode == ONE_CONFIRM)
        started = time.monotonic()
        publish()
        if not receiver.poll(timeout=300):
            raise RuntimeError(f"{mode} consumer did not receive every message")
        finished, cpu_per_message = receiver.recv()
        child.join(timeout=30)
        return len(events) / (finished - started), cpu_per_message
    finally:
        if child.is_alive():
            child.kill()
            child.join()


# ---- the run -------------------------------------------------------------------------------


def rabbitmq_version() -> str:
    output = subprocess.run(["rabbitmqctl", "-q", "version"], capture_output=True, text=True, timeout=30)
    return output.stdout.strip() or "unknown"


def run(
    reps: int, messages: int, one_confirm_messages: int, one_at_a_time_messages: int
) -> dict[str, object]:
    sandbox: Sandbox = create_sandbox("bench")
    try:
        topology.apply(sandbox.amqp_url, topology.service_topology(SERVICE, [EVENT_TYPE]))
        sizes = {LIBRARY: messages, RAW: messages, ONE_CONFIRM: one_confirm_messages}
        runs: dict[str, list[float]] = {mode: [] for mode in sizes}
        cpu_runs: dict[str, list[float]] = {name: [] for name in CPU_MODES}
        for rep in range(1, reps + 1):
            for mode, size in sizes.items():
                rate, _cpu = measure(mode, sandbox.amqp_url, make_events(size))
                runs[mode].append(rate)
                print(f"  rep {rep}/{reps} {mode:<28} {size:>6} msgs  {rate:>9,.0f} msg/s", flush=True)
            for name, (workers, gap_s) in CPU_MODES.items():
                events = make_events(one_at_a_time_messages if gap_s else messages // 3)
                _rate, cpu = measure(LIBRARY, sandbox.amqp_url, events, workers=workers, gap_s=gap_s)
                cpu_runs[name].append(1e6 * (cpu or 0.0))
                used = f"{cpu_runs[name][-1]:>7,.0f} µs/msg"
                print(f"  rep {rep}/{reps} consumer CPU, {name:<22} {used}", flush=True)
    finally:
        destroy_sandbox(sandbox)
    medians = {mode: statistics.median(rates) for mode, rates in runs.items()}
    cpu_medians = {name: round(statistics.median(values)) for name, values in cpu_runs.items()}
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rabbitmq": rabbitmq_version(),
        "python": platform.python_version(),
        "messages": sizes,
        "prefetch": PREFETCH,
        "runs_msgs_per_s": runs,
        "median_msgs_per_s": medians,
        "runs_consumer_cpu_us_per_msg": cpu_runs,
        "headline": {
            "library_msgs_per_s": round(medians[LIBRARY]),
            "raw_unconfirmed_msgs_per_s": round(medians[RAW]),
            "one_confirm_per_round_trip_msgs_per_s": round(medians[ONE_CONFIRM]),
            "ratio_to_raw": round(medians[LIBRARY] / medians[RAW], 3),
            "consumer_cpu_us_per_msg": cpu_medians,
        },
    }


def print_table(result: dict[str, object]) -> None:
    medians: dict[str, float] = result["median_msgs_per_s"]  # type: ignore[assignment]
    runs: dict[str, list[float]] = result["runs_msgs_per_s"]  # type: ignore[assignment]
    print(f"\nRabbitMQ {result['rabbitmq']}, Python {result['python']}, prefetch {result['prefetch']}")
    print(f"{'mode':<28} {'median msg/s':>12} {'vs raw':>7}   runs")
    for mode, median in medians.items():
        share = median / medians[RAW]
        spread = ", ".join(f"{r:,.0f}" for r in runs[mode])
        print(f"{mode:<28} {median:>12,.0f} {share:>6.0%}   {spread}")
    speedup = medians[LIBRARY] / medians[ONE_CONFIRM]
    print(f"library vs one confirm per round trip: {speedup:.1f}x (goal >= 5x); vs raw: goal >= 60%")
    cpu = result["headline"]["consumer_cpu_us_per_msg"]  # type: ignore[index]
    print(
        f"library consumer CPU per message, in a burst / one at a time ({ARRIVAL_GAP_S * 1000:.0f} ms "
        f"apart): handlers on a pool {cpu['pool_burst']:,} / {cpu['pool_one_at_a_time']:,} µs, "
        f"on the I/O thread {cpu['inline_burst']:,} / {cpu['inline_one_at_a_time']:,} µs\n"
    )


def save(result: dict[str, object]) -> None:
    plt = pyplot()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    medians: dict[str, float] = result["median_msgs_per_s"]  # type: ignore[assignment]
    labels = ["library\n(confirmed)", "raw pika\n(unconfirmed)", "one confirm\nper round trip"]
    fig, (ax, cpu_ax) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 2]})
    bars = ax.bar(labels, list(medians.values()), color=["#2b7bba", "#999999", "#d95f02"])
    ax.bar_label(bars, fmt="{:,.0f}")
    ax.set_ylabel("messages / second (median, end to end)")
    ax.set_title(f"Publish + consume on RabbitMQ {result['rabbitmq']}")
    cpu = result["headline"]["consumer_cpu_us_per_msg"]  # type: ignore[index]
    kinds = ["burst", f"one at a time\n({ARRIVAL_GAP_S * 1000:.0f} ms apart)"]
    for offset, (where, label, color) in enumerate(
        [("pool", "handlers on a pool", "#2b7bba"), ("inline", "on the I/O thread", "#7570b3")]
    ):
        xs = [x + (offset - 0.5) * 0.38 for x in range(len(kinds))]
        values = [cpu[f"{where}_burst"], cpu[f"{where}_one_at_a_time"]]
        cpu_ax.bar_label(cpu_ax.bar(xs, values, 0.38, label=label, color=color), fmt="{:,.0f}", fontsize=8)
    cpu_ax.set_xticks(range(len(kinds)), kinds)
    cpu_ax.legend(fontsize=8)
    cpu_ax.set_ylabel("µs of CPU per message (median)")
    cpu_ax.set_title("What a message costs the library's consumer")
    fig.tight_layout()
    fig.savefig(ARTIFACTS / "throughput.png", dpi=120)
    plt.close(fig)
    print(f"wrote {ARTIFACTS / 'results.json'} and {ARTIFACTS / 'throughput.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--messages", type=int, default=15_000)
    parser.add_argument("--one-confirm-messages", type=int, default=3_000)
    parser.add_argument("--one-at-a-time-messages", type=int, default=500)
    args = parser.parse_args()
    print(f"benchmarking the event bus: {args.reps} repetitions of each mode", flush=True)
    result = run(args.reps, args.messages, args.one_confirm_messages, args.one_at_a_time_messages)
    print_table(result)
    save(result)
    print(json.dumps(result["headline"]))


if __name__ == "__main__":
    main()
