"""Orders as real processes (the Procfile commands) on the real broker and Redis.

The API refuses bad input with a 4xx naming the field and publishes nothing; a valid
order is announced on `shop.events`; one Idempotency-Key makes one order even when
posted concurrently; the consumer settles orders from payment outcomes exactly once.
"Nothing published" is checked with a sentinel: a valid order placed after the bad
requests; the single relay publishes in outbox order, so once the sentinel's event is
seen, anything written before it would have been seen too.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.sandbox import Sandbox, rabbitmqctl
from harness.waiting import wait_until
from shared.envelope import Event, new_event
from shared.publisher import Publisher
from tests.support.bus import BusObserver

pytestmark = pytest.mark.slow

SETTLED = ("order.confirmed", "order.cancelled")
OPERATOR_TOKEN = secrets.token_urlsafe(24)
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}  # listing every order is an operator's
VALID = {
    "customer_email": "ada@example.com",
    "items": [{"sku": "MUG-CERAMIC", "qty": 2}],
    "payment_token": "tok_visa",
}


@pytest.fixture(scope="module")
def orders() -> Iterator[SandboxedStack]:
    with sandboxed_stack(
        "orders", autorestart=False, ORDERS_RELAY_CLAIM_IDLE_MS="500", OPERATOR_TOKEN=OPERATOR_TOKEN
    ) as stack:
        stack.up("orders")
        yield stack


@pytest.fixture(autouse=True)
def logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "orders" in request.fixturenames:
        print(request.getfixturevalue("orders").logs_tail())


@pytest.fixture
def bus(orders: SandboxedStack) -> Iterator[BusObserver]:
    observer = BusObserver(orders.sandbox.amqp_url)
    yield observer
    observer.close()


@pytest.fixture
def payments(orders: SandboxedStack) -> Iterator[Publisher]:
    """Stands in for the payments service: publishes its events on the bus."""
    publisher = Publisher(orders.sandbox.amqp_url_for("payments"), name="test-payments")
    yield publisher
    publisher.close()


def queue_messages(sandbox: Sandbox, queue: str) -> int | None:
    """Ready plus unacknowledged messages; None while the queue does not exist."""
    for line in rabbitmqctl("list_queues", "-p", sandbox.vhost, "name", "messages").splitlines():
        name, _, count = line.partition("\t")
        if name == queue:
            return int(count)
    return None


def post(stack: SandboxedStack, body: object = VALID, session=requests, **headers: str) -> requests.Response:
    return session.post(stack.url("orders") + "/api/orders", json=body, headers=headers, timeout=10)


def place(stack: SandboxedStack, **headers: str) -> str:
    response = post(stack, **headers)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_placed(bus: BusObserver, order_id: str) -> Event:
    placed = wait_until(lambda: [e for e in bus.of_type("order.placed") if e.subject == order_id], 15)
    return placed[0]


def published_until_sentinel(stack: SandboxedStack, bus: BusObserver) -> list[Event]:
    """Every event published so far, known complete once a freshly placed order shows up."""
    sentinel = place(stack)
    wait_placed(bus, sentinel)
    return [e for e in bus.drain() if e.subject != sentinel]


def raw_post(stack: SandboxedStack, data: bytes, content_type: str, **headers: str) -> requests.Response:
    return requests.post(
        stack.url("orders") + "/api/orders",
        data=data,
        headers={"Content-Type": content_type, **headers},
        timeout=10,
    )


def json_body(changes: dict) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


INVALID = {
    "missing fields": (b"{}", "application/json", {}, 422, "customer_email"),
    "missing items": (
        json.dumps({"customer_email": "a@example.com", "payment_token": "t"}).encode(),
        "application/json",
        {},
        422,
        "items",
    ),
    "unknown sku": (
        json_body({"items": [{"sku": "NOPE", "qty": 1}]}),
        "application/json",
        {},
        422,
        "items[0].sku",
    ),
    "qty zero": (
        json_body({"items": [{"sku": "MUG-CERAMIC", "qty": 0}]}),
        "application/json",
        {},
        422,
        "items[0].qty",
    ),
    "qty negative": (
        json_body({"items": [{"sku": "MUG-CERAMIC", "qty": -1}]}),
        "application/json",
        {},
        422,
        "items[0].qty",
    ),
    "qty fractional": (
        json_body({"items": [{"sku": "MUG-CERAMIC", "qty": 1.5}]}),
        "application/json",
        {},
        422,
        "items[0].qty",
    ),
    "qty as string": (
        json_body({"items": [{"sku": "MUG-CERAMIC", "qty": "1"}]}),
        "application/json",
        {},
        422,
        "items[0].qty",
    ),
    "qty absurd": (
        json_body({"items": [{"sku": "MUG-CERAMIC", "qty": 10**12}]}),
        "application/json",
        {},
        422,
        "items[0].qty",
    ),
    "too many lines": (
        json_body({"items": [{"sku": "MUG-CERAMIC", "qty": 1}] * 51}),
        "application/json",
        {},
        422,
        "items",
    ),
    "items not a list": (json_body({"items": {"sku": "MUG-CERAMIC"}}), "application/json", {}, 422, "items"),
    "email wrong type": (
        json_body({"customer_email": ["a@example.com"]}),
        "application/json",
        {},
        422,
        "customer_email",
    ),
    "malformed email": (
        json_body({"customer_email": "ada-at-example"}),
        "application/json",
        {},
        422,
        "customer_email",
    ),
    "client sets the amount": (json_body({"total_cents": 1}), "application/json", {}, 422, "total_cents"),
    "not an object": (b"[]", "application/json", {}, 422, "body"),
    "not JSON": (b"customer_email=ada", "application/json", {}, 400, "body"),
    "wrong content type": (json_body({}), "text/plain", {}, 415, "Content-Type"),
    "form encoded": (b"customer_email=ada", "application/x-www-form-urlencoded", {}, 415, "Content-Type"),
    "over 64 KB": (json_body({"pad": "x" * 70_000}), "application/json", {}, 413, "body"),
    "bad idempotency key": (
        json_body({}),
        "application/json",
        {"Idempotency-Key": "k" * 300},
        400,
        "Idempotency-Key",
    ),
}


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_invalid_input_is_refused_naming_the_field_and_nothing_is_published(
    orders: SandboxedStack, bus: BusObserver, case: tuple
) -> None:
    data, content_type, headers, status, field = case
    before = requests.get(
        orders.url("orders") + "/api/orders", params={"limit": 500}, headers=OPERATOR, timeout=5
    ).json()["count"]

    response = raw_post(orders, data, content_type, **headers)

    assert response.status_code == status, response.text
    body = response.json()
    assert field in [error["field"] for error in body["errors"]], body
    assert all(error["reason"] for error in body["errors"])
    assert published_until_sentinel(orders, bus) == []
    after = requests.get(
        orders.url("orders") + "/api/orders", params={"limit": 500}, headers=OPERATOR, timeout=5
    ).json()["count"]
    assert after == before + 1  # the sentinel only


def test_a_valid_order_is_accepted_priced_from_the_catalog_and_announced(
    orders: SandboxedStack, bus: BusObserver
) -> None:
    catalog = {
        p["sku"]: p for p in requests.get(orders.url("orders") + "/api/catalog", timeout=5).json()["products"]
    }
    body = {**VALID, "items": [{"sku": "MUG-CERAMIC", "qty": 2}, {"sku": "GRINDER-HAND", "qty": 1}]}

    response = post(orders, body, **{"X-Correlation-Id": "corr-e2e-1"})

    assert response.status_code == 202, response.text
    order = response.json()
    expected_total = (
        2 * catalog["MUG-CERAMIC"]["unit_price_cents"] + catalog["GRINDER-HAND"]["unit_price_cents"]
    )
    assert (order["status"], order["total_cents"], order["currency"]) == ("PENDING", expected_total, "EUR")
    assert response.headers["Location"].endswith(f"/api/orders/{order['id']}")
    assert "payment_token" not in order
    fetched = requests.get(orders.url("orders") + response.headers["Location"], timeout=5).json()
    assert fetched == order
    placed = wait_placed(bus, order["id"])
    assert placed.correlationid == "corr-e2e-1"
    assert placed.data.total_cents == expected_total
    assert placed.data.payment_token == "tok_visa"
    assert [(i.sku, i.qty, i.unit_price_cents) for i in placed.data.items] == [
        ("MUG-CERAMIC", 2, catalog["MUG-CERAMIC"]["unit_price_cents"]),
        ("GRINDER-HAND", 1, catalog["GRINDER-HAND"]["unit_price_cents"]),
    ]


def test_reading_orders_validates_its_parameters(orders: SandboxedStack) -> None:
    base = orders.url("orders") + "/api/orders"
    order_id = place(orders)

    unknown = requests.get(f"{base}/{uuid.uuid4()}", timeout=5)
    bad_status = requests.get(base, params={"status": "SHIPPED"}, headers=OPERATOR, timeout=5)
    bad_limit = requests.get(base, params={"limit": "lots"}, headers=OPERATOR, timeout=5)
    too_many = requests.get(base, params={"limit": 100_000}, headers=OPERATOR, timeout=5)
    pending = requests.get(base, params={"status": "PENDING", "limit": 500}, headers=OPERATOR, timeout=5)

    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "order_id"
    assert bad_status.status_code == 400 and bad_status.json()["errors"][0]["field"] == "status"
    assert bad_limit.status_code == 400 and bad_limit.json()["errors"][0]["field"] == "limit"
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["field"] == "limit"
    assert order_id in [o["id"] for o in pending.json()["orders"]]


def test_one_idempotency_key_posted_concurrently_makes_one_order(
    orders: SandboxedStack, bus: BusObserver
) -> None:
    key = str(uuid.uuid4())
    start = threading.Barrier(8)

    def post_once(_: int) -> requests.Response:
        start.wait()
        return post(orders, **{"Idempotency-Key": key})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post_once, range(8)))

    assert [r.status_code for r in responses] == [202] * 8
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(published_until_sentinel(orders, bus)) == 1
    reused = post(orders, {**VALID, "payment_token": "tok_chargeDeclined"}, **{"Idempotency-Key": key})
    assert reused.status_code == 422
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"


def payment_event(event_type: str, order_id: str) -> Event:
    data = {"order_id": order_id, "payment_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pay-{order_id}"))}
    data |= (
        {"amount_cents": 2580, "currency": "EUR"}
        if event_type == "payment.authorized"
        else {"reason": "declined"}
    )
    return new_event(event_type, data, source="payments", correlation_id=order_id)


def order_status(stack: SandboxedStack, order_id: str) -> str:
    return requests.get(f"{stack.url('orders')}/api/orders/{order_id}", timeout=5).json()["status"]


@pytest.mark.parametrize(
    ("outcome", "late", "status", "announced"),
    [
        ("payment.authorized", "payment.declined", "CONFIRMED", "order.confirmed"),
        ("payment.declined", "payment.authorized", "CANCELLED", "order.cancelled"),
    ],
)
def test_a_payment_outcome_settles_the_order_once_despite_duplicates_and_late_events(
    orders: SandboxedStack,
    bus: BusObserver,
    payments: Publisher,
    outcome: str,
    late: str,
    status: str,
    announced: str,
) -> None:
    order_id = place(orders)
    bus.wait_for("order.placed", 1)
    first = payment_event(outcome, order_id)

    payments.publish_many([first, first, first])
    wait_until(lambda: order_status(orders, order_id) == status, 15, what=status)
    payments.publish(payment_event(late, order_id))
    wait_until(lambda: queue_messages(orders.sandbox, "orders") == 0, 15, 0.2, "orders queue drained")

    settled = [e for e in published_until_sentinel(orders, bus) if e.type in SETTLED]
    assert [(e.type, e.subject) for e in settled] == [(announced, order_id)]
    assert settled[0].correlationid == order_id  # carried over from the payment event
    assert order_status(orders, order_id) == status
    assert requests.get(f"{orders.url('orders')}/api/orders/{order_id}", timeout=5).json()[
        "confirmed_at" if status == "CONFIRMED" else "cancelled_at"
    ]


def test_a_payment_outcome_for_an_unknown_order_is_dead_lettered(
    orders: SandboxedStack, payments: Publisher
) -> None:
    before = queue_messages(orders.sandbox, "orders.dlq") or 0

    payments.publish(payment_event("payment.authorized", str(uuid.uuid4())))

    wait_until(lambda: queue_messages(orders.sandbox, "orders.dlq") == before + 1, 15, 0.2, "dead-lettered")


def test_orders_placed_while_the_relay_was_killed_are_published_after_its_restart(
    orders: SandboxedStack, bus: BusObserver
) -> None:
    orders.kill("orders-relay")
    try:
        order_ids = [place(orders) for _ in range(20)]
    finally:
        orders.start("orders-relay")

    bus.wait_for("order.placed", 20)
    assert set(order_ids) <= {e.subject for e in bus.of_type("order.placed")}


@pytest.mark.parametrize(
    ("process", "running_line"), [("orders-relay", "relaying"), ("orders-consumer", "consuming")]
)
def test_relay_and_consumer_exit_cleanly_on_sigterm(
    orders: SandboxedStack, process: str, running_line: str
) -> None:
    orders.stop(process)
    log = orders.log_file(process)
    earlier_runs = log.stat().st_size
    orders.start(process)
    this_run = lambda: log.read_bytes()[earlier_runs:].decode(errors="replace")  # noqa: E731
    wait_until(lambda: running_line in this_run(), 15, 0.1, f"{process} running")
    orders.stop(process)
    assert orders.exit_codes(process) == [0], this_run()
