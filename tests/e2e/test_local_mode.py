"""`make dev` and the make targets that steer it, run for real in a sandbox (issue 4).

The stack is started with `make dev` in its own vhost, Redis prefix, ports and run folder,
and stopped, started and scaled with `make stop/start/scale`: the very code paths a
developer uses. The broker is asked how many consumers each queue really has.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from harness.launcher import SandboxedStack, sandboxed_stack
from harness.mail import Mailbox
from harness.sandbox import rabbitmqctl
from harness.waiting import wait_until
from infra.stack import ADDED_LATER, ROOT, procfile

pytestmark = pytest.mark.slow
READY_WITHIN_S = 60
CUSTOMER = "ada@example.com"
TASKS = "notifications.tasks"


def missing_modules() -> list[str]:
    """Procfile processes whose Python module is not written yet: reported, never skipped."""
    missing = []
    for process in procfile().values():
        for module in process.command.split():
            if module.startswith(("services.", "infra.")):
                path = ROOT / (module.split(":")[0].strip("'").replace(".", "/"))
                if not path.with_suffix(".py").exists() and not path.is_dir():
                    missing.append(f"{process.name}: {module}")
    return missing


@pytest.fixture(scope="module")
def dev() -> Iterator[SandboxedStack]:
    """`make dev` in a sandbox, timed; stopped and the sandbox deleted afterwards."""
    assert not missing_modules(), f"Procfile processes without their module: {missing_modules()}"
    started = time.monotonic()
    with sandboxed_stack("dev") as stack:
        stack.make("dev", timeout=READY_WITHIN_S + 30)
        stack.startup_s = time.monotonic() - started
        yield stack


@pytest.fixture(autouse=True)
def logs_on_failure(request, dev: SandboxedStack) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(dev.logs_tail())


def pids(dev: SandboxedStack) -> dict[str, str]:
    """The pid of every RUNNING process, as `make ps` shows them."""
    rows = dev.make("ps").stdout.splitlines()
    return {row.split()[0]: row.split()[3].rstrip(",") for row in rows if " RUNNING " in row}


def consumers(dev: SandboxedStack, queue: str) -> int:
    """What the broker says, not supervisord: how many consumers a queue really has."""
    rows = rabbitmqctl("list_queues", "-p", dev.sandbox.vhost, "name", "consumers").splitlines()
    counts = dict(row.split("\t") for row in rows if "\t" in row)
    return int(counts.get(queue, "0"))


def place_order(dev: SandboxedStack) -> str:
    catalog = requests.get(dev.url("orders") + "/api/catalog", timeout=5).json()
    sku = catalog["products"][0]["sku"]
    order = {"customer_email": CUSTOMER, "items": [{"sku": sku, "qty": 1}], "payment_token": "tok_visa"}
    response = requests.post(dev.url("orders") + "/api/orders", json=order, timeout=5)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def order_status(dev: SandboxedStack, order_id: str) -> str:
    return requests.get(f"{dev.url('orders')}/api/orders/{order_id}", timeout=5).json()["status"]


def test_make_dev_brings_every_process_to_ready_within_a_minute(dev):
    assert dev.startup_s < READY_WITHIN_S
    running = pids(dev)
    for process in procfile().values():
        instance = f"{process.service}:{process.name}" + ("-0" if process.scalable else "")
        if process.service in ADDED_LATER:  # the subscriber demo adds it to a running shop
            assert instance not in running, f"{instance} should wait for `make start SERVICE=loyalty`"
        else:
            assert instance in running, f"{instance} is not RUNNING"
    for service in ("orders", "payments", "notifications", "dashboard", "smtp-sink"):
        assert requests.get(dev.url(service) + "/readyz", timeout=5).status_code == 200, service


def test_an_order_is_confirmed_and_its_email_reaches_the_smtp_sink(dev):
    order_id = place_order(dev)
    wait_until(lambda: order_status(dev, order_id) == "CONFIRMED", 30, 0.2, f"order {order_id} CONFIRMED")
    mailbox = Mailbox(dev.url("smtp-sink"))
    mail = wait_until(
        lambda: [m for m in mailbox.list() if m.order_id == order_id], 30, 0.2, f"the email of {order_id}"
    )
    assert [m.recipients for m in mail] == [(CUSTOMER,)]


def test_orders_wait_while_payments_is_stopped_and_complete_once_it_is_started(dev):
    dev.make("stop", "SERVICE=payments")
    assert not [name for name in pids(dev) if name.startswith("payments:")]
    order_id = place_order(dev)
    wait_until(lambda: consumers(dev, "payments") == 0, 10, 0.2, "no consumer on the payments queue")
    assert order_status(dev, order_id) == "PENDING"

    dev.make("start", "SERVICE=payments")
    wait_until(lambda: order_status(dev, order_id) == "CONFIRMED", 30, 0.2, f"order {order_id} CONFIRMED")


def test_scaling_one_process_type_to_four_and_back_leaves_the_others_alone(dev):
    others = {name: pid for name, pid in pids(dev).items() if "notifications-worker" not in name}

    dev.make("scale", "SERVICE=notifications-worker", "N=4")
    wait_until(lambda: consumers(dev, TASKS) == 4, 30, 0.2, f"4 consumers on {TASKS}")

    dev.make("scale", "SERVICE=notifications-worker", "N=1")
    wait_until(lambda: consumers(dev, TASKS) == 1, 30, 0.2, f"1 consumer on {TASKS}")
    after = pids(dev)
    assert {name: after.get(name) for name in others} == others
    assert [name for name in after if "notifications-worker" in name] == [
        "notifications:notifications-worker-0"
    ]
