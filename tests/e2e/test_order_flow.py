"""The whole order flow across orders, payments and notifications, as real processes.

Issue 3's acceptance tests: each payment token reaches its end state with exactly one
email; a burst of concurrent orders all finish with no duplicate email and no double
charge; orders placed while payments is down wait, and finish once it is back.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.mail import Mailbox
from harness.sandbox import rabbitmqctl
from harness.waiting import wait_until

SERVICES = ("orders", "payments", "notifications")
TERMINAL = {"CONFIRMED", "CANCELLED"}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop() -> Iterator[SandboxedStack]:
    with sandboxed_stack("flow") as stack:
        stack.up("smtp-sink", *SERVICES)
        yield stack


@pytest.fixture
def mailbox(shop: SandboxedStack) -> Mailbox:
    box = Mailbox(shop.url("smtp-sink"))
    box.clear()
    return box


def place(shop: SandboxedStack, token: str, email: str = "ada@example.com", session=requests) -> str:
    response = session.post(
        shop.url("orders") + "/api/orders",
        json={"customer_email": email, "items": [{"sku": first_sku(shop), "qty": 2}], "payment_token": token},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


_skus: dict[str, str] = {}


def first_sku(shop: SandboxedStack) -> str:
    if shop.url("orders") not in _skus:
        catalog = requests.get(shop.url("orders") + "/api/catalog", timeout=5).json()
        products = catalog["products"] if isinstance(catalog, dict) else catalog
        _skus[shop.url("orders")] = products[0]["sku"]
    return _skus[shop.url("orders")]


def status(shop: SandboxedStack, order_id: str) -> str:
    return requests.get(f"{shop.url('orders')}/api/orders/{order_id}", timeout=5).json()["status"]


def charges(shop: SandboxedStack, order_id: str) -> int:
    payments = requests.get(f"{shop.url('payments')}/api/payments", params={"order_id": order_id}, timeout=5)
    return payments.json()["gateway_charges"]


def wait_terminal(shop: SandboxedStack, order_ids: list[str], timeout: float) -> dict[str, str]:
    def all_terminal() -> dict[str, str] | None:
        statuses = {order_id: status(shop, order_id) for order_id in order_ids}
        return statuses if set(statuses.values()) <= TERMINAL else None

    return wait_until(all_terminal, timeout, 0.25, "every order terminal")


def test_each_token_reaches_its_end_state_with_one_email(shop: SandboxedStack, mailbox: Mailbox) -> None:
    visa, declined, flaky = (place(shop, t) for t in ("tok_visa", "tok_chargeDeclined", "tok_flaky"))

    statuses = wait_terminal(shop, [visa, declined, flaky], timeout=60)

    assert statuses == {visa: "CONFIRMED", declined: "CANCELLED", flaky: "CONFIRMED"}
    mails = mailbox.wait_for_count(3, timeout=30)
    assert sorted(m.order_id for m in mails) == sorted([visa, declined, flaky])
    assert {m.order_id: m.template for m in mails} == {
        visa: "order_confirmed",
        declined: "order_cancelled",
        flaky: "order_confirmed",
    }
    assert charges(shop, flaky) == 1
    assert charges(shop, declined) == 0


def test_every_process_of_the_shop_connects_as_its_service_s_own_user(shop: SandboxedStack) -> None:
    """While orders flow (the test itself holds no broker connection): no `guest`, no stranger."""
    wait_terminal(shop, [place(shop, "tok_visa")], timeout=60)

    rows = rabbitmqctl("list_connections", "user", "vhost").splitlines()
    users = {row.split("\t")[0] for row in rows if row.endswith(f"\t{shop.sandbox.vhost}")}

    assert users == {shop.sandbox.user(service) for service in SERVICES}


def test_a_burst_of_concurrent_orders_all_finish_once(shop: SandboxedStack, mailbox: Mailbox) -> None:
    tokens = ["tok_visa", "tok_chargeDeclined", "tok_flaky", "tok_visa"] * 50
    with ThreadPoolExecutor(16) as pool, requests.Session() as session:
        order_ids = list(pool.map(lambda t: place(shop, t, session=session), tokens))
    assert len(set(order_ids)) == 200

    statuses = wait_terminal(shop, order_ids, timeout=180)

    declined = {oid for oid, t in zip(order_ids, tokens, strict=True) if t == "tok_chargeDeclined"}
    assert statuses == {oid: "CANCELLED" if oid in declined else "CONFIRMED" for oid in order_ids}
    mails = mailbox.wait_for_count(200, timeout=60)
    per_order = collections.Counter(m.order_id for m in mails)
    assert set(per_order) == set(order_ids)
    assert max(per_order.values()) == 1
    charged = {oid: charges(shop, oid) for oid in order_ids}
    assert charged == {oid: int(oid not in declined) for oid in order_ids}


def test_orders_wait_while_payments_is_down_and_finish_after(shop: SandboxedStack, mailbox: Mailbox) -> None:
    shop.stop("payments-consumer")
    shop.stop("payments-worker")
    try:
        order_ids = [place(shop, "tok_visa") for _ in range(10)]
        wait_until(lambda: queue_depth(shop, "payments") == 10, 20, 0.2, "payments queue holding the orders")
        assert {status(shop, oid) for oid in order_ids} == {"PENDING"}
    finally:
        shop.start("payments-consumer")
        shop.start("payments-worker")

    statuses = wait_terminal(shop, order_ids, timeout=60)

    assert set(statuses.values()) == {"CONFIRMED"}
    assert len(mailbox.wait_for_count(10, timeout=30)) == 10


def queue_depth(shop: SandboxedStack, queue: str) -> int:
    from harness.sandbox import rabbitmqctl

    for line in rabbitmqctl("list_queues", "-p", shop.sandbox.vhost, "name", "messages").splitlines():
        name, _, count = line.partition("\t")
        if name == queue:
            return int(count)
    return -1
