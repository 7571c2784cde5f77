"""Placing the benchmark's orders over plain keep-alive HTTP connections.

Not harness.load.OrderLoad: that one is open-loop over `requests`, one record per request,
which demos need; here the client must cost as little CPU as possible and also run closed
loop, flat out, to find the shop's throughput.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field

ORDER = json.dumps(
    {
        "customer_email": "bench@example.com",
        "items": [{"sku": "MUG-CERAMIC", "qty": 1}],
        "payment_token": "tok_visa",
    }
).encode()


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
