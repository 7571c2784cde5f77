"""What the demos share: a paced order generator, stack control, probes, figures and plots.

The load generator is hand-written on purpose: each demo needs every request's own
record (order id, phase, latency) to tie intake to the outage and to the final ledger,
and it runs in the same process as pika clients. Locust (used by `make load`) reports
aggregates and monkey-patches threads with gevent, which fits neither need.

Every demo drives a stack that is already running, the way a person would: `make
stop/start/scale SERVICE=...`, the services' public HTTP APIs, the broker (a passive
queue_declare reads a queue's depth without changing anything) and the SMTP sink's
Mailpit-compatible API. The same code therefore runs against `make dev` and `make run`.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import requests

from harness.mail import Mailbox
from harness.stats import percentiles
from harness.waiting import wait_until
from infra import compose

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))
TOKENS = ("tok_visa", "tok_visa", "tok_visa", "tok_chargeDeclined")
TERMINAL = ("CONFIRMED", "CANCELLED")
PORTS = {"dashboard": 8000, "orders": 8001, "payments": 8002, "notifications": 8003, "loyalty": 8004}


class DemoError(Exception):
    """Something the person running the demo can fix; printed without a traceback."""


# --- where things are ------------------------------------------------------------------------


def url(service: str) -> str:
    """Where a service answers: its port of docs/architecture.md, moved by <SERVICE>_PORT if set."""
    host = os.environ.get("SHOP_HOST", "127.0.0.1")
    return f"http://{host}:{os.environ.get(service.upper() + '_PORT', PORTS[service])}"


def mail_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('SMTP_SINK_HTTP_PORT', 8025)}"


def smtp_url() -> str:
    return f"smtp://127.0.0.1:{os.environ.get('SMTP_SINK_PORT', 1025)}"


@functools.cache
def mode() -> str:
    """`compose` or `local`, decided like the Makefile does (MODE wins, else: does Docker answer?)."""
    if os.environ.get("MODE") in ("compose", "local"):
        return os.environ["MODE"]
    try:
        docker = subprocess.run(["docker", "info"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "local"
    return "compose" if docker.returncode == 0 else "local"


def broker_url() -> str:
    """The broker as an operator sees it: AMQP_URL in local mode, the admin user in compose."""
    if os.environ.get("DEMO_AMQP_URL"):
        return os.environ["DEMO_AMQP_URL"]
    if mode() == "compose":
        password = os.environ.get("RABBITMQ_ADMIN_PASSWORD", "admin")
        return f"amqp://admin:{password}@127.0.0.1:{os.environ.get('RABBITMQ_PORT', 5672)}/%2F"
    return os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


# --- talking to the person and to scripts ------------------------------------------------


def say(message: str) -> None:
    """Narration and progress, on stderr so stdout ends with the JSON figures."""
    print(message, file=sys.stderr, flush=True)


def report(lines: Iterable[str]) -> None:
    """The narrated report: on stdout, before the final JSON line."""
    print("\n".join(lines), flush=True)


def emit(figures: dict[str, Any], name: str) -> None:
    """Save the figures and print them as the last line, one JSON object."""
    folder = artifacts(name)
    (folder / "figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures), flush=True)


def artifacts(name: str) -> Path:
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_demo(main: Callable[[], None]) -> None:
    """Run a demo's main; a DemoError becomes one readable line and exit status 2."""
    try:
        main()
    except DemoError as error:
        say(f"error: {error}")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


# --- driving the stack -----------------------------------------------------------------------


def make(target: str, **variables: str | int) -> None:
    """Drive the stack through the same make targets a person would type."""
    assignments = [f"{name}={value}" for name, value in variables.items()]
    command = ["make", "--no-print-directory", "-C", str(ROOT), target, *assignments]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DemoError(f"`make {target} {' '.join(assignments)}` failed:\n{result.stdout}{result.stderr}")


def answers(service: str, path: str = "/readyz") -> bool:
    try:
        return requests.get(url(service) + path, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def require_stack(*services: str) -> None:
    """Stop early, and say what to do, when the stack the demo drives is not running."""
    silent = [s for s in services if not answers(s)]
    if silent:
        where = ", ".join(f"{s} ({url(s)})" for s in silent)
        raise DemoError(
            f"no running stack answers: {where} did not reply to /readyz. "
            "The demos drive a running stack: start it with `make run` (or `make dev`), then try again."
        )


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll until `condition()` is truthy; a DemoError at the deadline."""
    return wait_until(condition, timeout, interval, what, failure=DemoError)


def service_processes(service: str) -> dict[str, str]:
    """`pid@start time` of each running process of a service: a restart changes it."""
    if mode() == "compose":
        ids = compose.run("ps", "--quiet", "--status", "running").split()
        if not ids:
            return {}
        inspect = subprocess.run(
            ["docker", "inspect", "--format", "{{.Name}} {{.State.Pid}}@{{.State.StartedAt}}", *ids],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        rows = dict(line.split(" ", 1) for line in inspect if line.strip())
        return {name.lstrip("/"): started for name, started in rows.items() if f"-{service}-" in name}
    from infra.dev import LocalStack  # local mode only: supervisord knows the pids

    states = LocalStack.attach().states()
    return {
        name: f"{info['pid']}@{info['start']}"
        for name, info in states.items()
        if name.startswith(f"{service}:") and info["statename"] == "RUNNING"
    }


# --- the broker ------------------------------------------------------------------------------


class QueueProbe:
    """Reads queue depths and consumer counts with passive declares: it changes nothing.

    One pika connection, so one thread: each sampler and the main thread own their probe.
    """

    def __init__(self, amqp_url: str | None = None) -> None:
        self._parameters = pika.URLParameters(amqp_url or broker_url())
        self._connection: pika.BlockingConnection | None = None
        self._channel = None

    def _open(self):
        if self._connection is None or self._connection.is_closed:
            self._connection = pika.BlockingConnection(self._parameters)
            self._channel = None
        if self._channel is None or self._channel.is_closed:
            self._channel = self._connection.channel()
        return self._channel

    def queue(self, name: str) -> tuple[int, int] | None:
        """(ready messages, consumers) of a queue, or None if it does not exist."""
        try:
            declared = self._open().queue_declare(name, passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # 404: not declared (yet)
            self._channel = None
            return None
        return declared.method.message_count, declared.method.consumer_count

    def depth(self, name: str) -> int:
        found = self.queue(name)
        return found[0] if found else 0

    def consumers(self, name: str) -> int:
        found = self.queue(name)
        return found[1] if found else 0

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()


class Sampler:
    """Calls `sample()` every `interval` seconds in its own thread and keeps (time, value) pairs."""

    def __init__(self, sample: Callable[[], Any], interval: float = 0.25) -> None:
        self._sample = sample
        self.interval = interval
        self.points: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        wait_for(lambda: self.points, 30, "the first sample")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            try:
                self.points.append((started, self._sample()))
            except (requests.RequestException, pika.exceptions.AMQPError) as error:
                say(f"  (a sample failed: {error!r})")
            self._stop.wait(max(0.0, self.interval - (time.time() - started)))

    @property
    def latest(self) -> Any:
        return self.points[-1][1]


# --- placing orders ----------------------------------------------------------------------------


@dataclass
class Intake:
    """One order request as the customer saw it; latency counted from when it was due."""

    due_at: float  # wall clock
    latency_ms: float
    ok: bool
    status_code: int | None
    order_id: str | None
    phase: str
    token: str
    customer: str


@dataclass
class OrderLoad:
    """Places orders open-loop at a steady rate, whatever the answers; keeps every record.

    Latency is measured from the moment a request was due, not from when a thread got
    to send it, so a slow server cannot hide its slowness by slowing the generator
    (coordinated omission).
    """

    base_url: str
    customers: list[str] = field(default_factory=lambda: [f"customer{i}@example.com" for i in range(50)])
    tokens: tuple[str, ...] = TOKENS
    timeout_s: float = 5.0
    workers: int = 64
    phase: str = "before"
    records: list[Intake] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="order")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sku = self._first_sku()
        self._stop = threading.Event()
        self._pacer: threading.Thread | None = None
        self._placed = 0

    def _first_sku(self) -> str:
        catalog = wait_for(self._catalog, 30, f"the catalog at {self.base_url}/api/catalog")
        return catalog[0]["sku"]

    def _catalog(self) -> list[dict[str, Any]] | None:
        try:
            return requests.get(f"{self.base_url}/api/catalog", timeout=2).json()["products"]
        except (requests.RequestException, ValueError, KeyError):
            return None

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _place(self, n: int, due: float, phase: str) -> None:
        token = self.tokens[n % len(self.tokens)]
        customer = self.customers[n % len(self.customers)]
        body = {
            "customer_email": customer,
            "items": [{"sku": self._sku, "qty": 1 + n % 3}],
            "payment_token": token,
        }
        status_code, order_id = None, None
        try:
            response = self._session().post(f"{self.base_url}/api/orders", json=body, timeout=self.timeout_s)
            status_code = response.status_code
            if status_code in (201, 202):
                order_id = response.json().get("id")
        except (requests.RequestException, ValueError):
            pass
        elapsed = time.perf_counter() - due
        due_at = time.time() - elapsed
        record = Intake(
            due_at, elapsed * 1000, order_id is not None, status_code, order_id, phase, token, customer
        )
        with self._lock:
            self.records.append(record)

    def start(self, rate_per_s: float, count: int | None = None) -> None:
        """Place `rate_per_s` orders a second in the background (`count` of them, or until stop())."""
        self._stop.clear()
        self._pacer = threading.Thread(target=self._pace, args=(rate_per_s, count), daemon=True)
        self._pacer.start()

    def _pace(self, rate_per_s: float, count: int | None) -> None:
        interval, start, futures = 1.0 / rate_per_s, time.perf_counter(), []
        i = 0
        while not self._stop.is_set() and (count is None or i < count):
            due = start + i * interval
            if (delay := due - time.perf_counter()) > 0 and self._stop.wait(delay):
                break
            futures.append(self._pool.submit(self._place, self._placed, due, self.phase))
            self._placed += 1
            i += 1
        for future in futures:
            future.result()

    def stop(self) -> None:
        """Stop placing and wait for the answers of what was sent."""
        self._stop.set()
        self.wait()

    def wait(self) -> None:
        if self._pacer is not None:
            self._pacer.join()

    def place(self, count: int, rate_per_s: float) -> None:
        self.start(rate_per_s, count)
        self.wait()

    def of(self, *phases: str) -> list[Intake]:
        return [r for r in self.records if r.phase in phases]

    def accepted(self) -> list[str]:
        return [r.order_id for r in self.records if r.order_id]

    def close(self) -> None:
        self._pool.shutdown()

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps([asdict(r) for r in self.records]))


# --- figures -----------------------------------------------------------------------------------


def intake_summary(records: list[Intake]) -> dict[str, float]:
    latencies = [r.latency_ms for r in records]
    return {
        "requests": len(records),
        "errors": sum(not r.ok for r in records),
        "success_rate": round(sum(r.ok for r in records) / len(records), 4) if records else 0.0,
        **{f"{point}_ms": value for point, value in percentiles(latencies, (50, 99)).items()},
    }


def order_statuses(
    order_ids: Iterable[str], base_url: str | None = None, workers: int = 16
) -> dict[str, str | None]:
    """Each order's status as the orders API reports it (None: unknown to it)."""
    base = base_url or url("orders")
    local = threading.local()

    def status(order_id: str) -> tuple[str, str | None]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        for _ in range(3):
            try:
                response = local.session.get(f"{base}/api/orders/{order_id}", timeout=5)
            except requests.RequestException:
                time.sleep(0.2)
                continue
            return order_id, response.json().get("status") if response.status_code == 200 else None
        return order_id, None

    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(status, list(order_ids)))


# --- mail ----------------------------------------------------------------------------------


def mail_count() -> int:
    return Mailbox(mail_url()).count()


def emails_by_order() -> dict[str, int]:
    """How many emails the SMTP sink (local sink or Mailpit) received per order id."""
    return dict(collections.Counter(mail.order_id for mail in Mailbox(mail_url()).list()))


# --- plots -----------------------------------------------------------------------------------


def pyplot():
    """matplotlib without a display (the demos run in terminals and CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
