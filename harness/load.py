"""Placing orders like customers do, and what came of them.

The load generator is hand-written on purpose: demos and tests need every request's own
record (order id, phase, latency) to tie intake to an outage and to the final ledger, and
it runs in the same process as pika clients. Locust (used by `make load`) reports
aggregates and monkey-patches threads with gevent, which fits neither need.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
import tenacity

from harness.stats import percentiles
from harness.waiting import wait_until

TOKENS = ("tok_visa", "tok_visa", "tok_visa", "tok_chargeDeclined")
TERMINAL = ("CONFIRMED", "CANCELLED")


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
        what = f"the catalog at {self.base_url}/api/catalog"
        catalog = wait_until(self._catalog, 30, 0.2, what, failure=TimeoutError)
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


def intake_summary(records: list[Intake]) -> dict[str, float]:
    latencies = [r.latency_ms for r in records]
    return {
        "requests": len(records),
        "errors": sum(not r.ok for r in records),
        "success_rate": round(sum(r.ok for r in records) / len(records), 4) if records else 0.0,
        **{f"{point}_ms": value for point, value in percentiles(latencies, (50, 99)).items()},
    }


def order_statuses(order_ids: Iterable[str], base_url: str, workers: int = 16) -> dict[str, str | None]:
    """Each order's status as the orders API reports it (None: unknown to it, or not answering
    after three tries)."""
    local = threading.local()
    patient = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(requests.RequestException),
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_fixed(0.2),
    )

    def status(order_id: str) -> tuple[str, str | None]:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        try:
            response = patient(local.session.get, f"{base_url}/api/orders/{order_id}", timeout=5)
        except tenacity.RetryError:
            return order_id, None
        return order_id, response.json().get("status") if response.status_code == 200 else None

    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(status, list(order_ids)))


def settled_statuses(order_ids: Iterable[str], base_url: str) -> dict[str, str | None] | None:
    """Every order's status once all are terminal; None while any is not (for wait_until)."""
    statuses = order_statuses(order_ids, base_url)
    return statuses if all(status in TERMINAL for status in statuses.values()) else None


def gateway_charges(order_ids: Iterable[str], payments_url: str, workers: int = 16) -> dict[str, int]:
    """Real gateway charges per order, from the payments read API: more than one is a double charge."""

    def charges(order_id: str) -> tuple[str, int]:
        response = requests.get(f"{payments_url}/api/payments", params={"order_id": order_id}, timeout=10)
        return order_id, int(response.json()["gateway_charges"])

    with ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(charges, list(order_ids)))
