"""`make dev` and the make targets that steer it, run for real in a sandbox (issue 4).

The stack is started with `make dev` in its own vhost, Redis prefix, ports and run folder,
and stopped, started and scaled with `make stop/start/scale`: the very code paths a
developer uses. The broker is asked how many consumers each queue really has.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from infra.stack import REDIS_DB, procfile
from tests.support.isolation import REDIS_URL, Sandbox, create_sandbox, destroy_sandbox, rabbitmqctl
from tests.support.mailbox import Mailbox
from tests.support.stack import PORT_VARIABLES, ROOT, free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
READY_WITHIN_S = 60
CUSTOMER = "ada@example.com"
TASKS = "notifications.tasks"


class DevStack:
    """A `make dev` stack in a sandbox, driven by make as a developer would."""

    def __init__(self, sandbox: Sandbox, run_dir: Path) -> None:
        self.sandbox = sandbox
        self.run_dir = run_dir
        self.ports = {name: str(free_port()) for name in PORT_VARIABLES}
        self.env = {
            **os.environ,
            **sandbox.env(),
            **self.ports,
            "RUN_DIR": str(run_dir),
            "MODE": "local",
        }

    def make(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        # `-o .venv/bin/.installed`: the test runs inside that virtualenv, never rebuild it.
        result = subprocess.run(
            ["make", "--no-print-directory", "-o", ".venv/bin/.installed", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, f"make {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    def consumers(self, queue: str) -> int:
        rows = rabbitmqctl("list_queues", "-p", self.sandbox.vhost, "name", "consumers").splitlines()
        counts = dict(row.split("\t") for row in rows if "\t" in row)
        return int(counts.get(queue, "0"))

    def pids(self) -> dict[str, str]:
        rows = self.make("ps").stdout.splitlines()
        return {row.split()[0]: row.split()[3].rstrip(",") for row in rows if " RUNNING " in row}

    def logs(self) -> str:
        return "\n".join(
            f"===== {path.name} =====\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted((self.run_dir / "logs").glob("*.log"))
        )


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
def dev() -> Iterator[DevStack]:
    assert not missing_modules(), f"Procfile processes without their module: {missing_modules()}"
    sandbox = create_sandbox("dev")
    # A short path: supervisord's unix socket path must stay under ~100 characters.
    with tempfile.TemporaryDirectory(prefix="shop-dev-") as run_dir:
        stack = DevStack(sandbox, Path(run_dir))
        started = time.monotonic()
        try:
            stack.make("dev", timeout=READY_WITHIN_S + 30)
            stack.startup_s = time.monotonic() - started
            yield stack
        except BaseException:
            print(stack.logs())
            raise
        finally:
            subprocess.run(
                ["make", "--no-print-directory", "down"], cwd=ROOT, env=stack.env, timeout=120, check=False
            )
            destroy_sandbox(sandbox)
            _delete_service_keys(sandbox)


@pytest.fixture(autouse=True)
def logs_on_failure(request, dev: DevStack) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(dev.logs())


def _delete_service_keys(sandbox: Sandbox) -> None:
    """Local mode gives each service its own Redis database: clean the sandbox's keys there too."""
    for db in set(REDIS_DB.values()):
        client = redis.Redis.from_url(REDIS_URL, db=db)
        keys = list(client.scan_iter(f"{sandbox.redis_prefix}*", count=1000))
        if keys:
            client.delete(*keys)


def place_order(dev: DevStack) -> str:
    catalog = requests.get(dev.url("ORDERS_PORT") + "/api/catalog", timeout=5).json()
    sku = catalog["products"][0]["sku"]
    order = {"customer_email": CUSTOMER, "items": [{"sku": sku, "qty": 1}], "payment_token": "tok_visa"}
    response = requests.post(dev.url("ORDERS_PORT") + "/api/orders", json=order, timeout=5)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def order_status(dev: DevStack, order_id: str) -> str:
    return requests.get(f"{dev.url('ORDERS_PORT')}/api/orders/{order_id}", timeout=5).json()["status"]


def test_make_dev_brings_every_process_to_ready_within_a_minute(dev):
    assert dev.startup_s < READY_WITHIN_S
    running = dev.pids()
    for process in procfile().values():
        instance = f"{process.service}:{process.name}" + ("-0" if process.scalable else "")
        assert instance in running, f"{instance} is not RUNNING"
    for variable in ("ORDERS_PORT", "PAYMENTS_PORT", "NOTIFICATIONS_PORT", "SMTP_SINK_HTTP_PORT"):
        assert requests.get(dev.url(variable) + "/readyz", timeout=5).status_code == 200, variable


def test_an_order_is_confirmed_and_its_email_reaches_the_smtp_sink(dev):
    order_id = place_order(dev)
    wait_until(lambda: order_status(dev, order_id) == "CONFIRMED", 30, 0.2, f"order {order_id} CONFIRMED")
    mailbox = Mailbox(dev.url("SMTP_SINK_HTTP_PORT"))
    mail = wait_until(
        lambda: [m for m in mailbox.list() if m.order_id == order_id], 30, 0.2, f"the email of {order_id}"
    )
    assert [m.recipients for m in mail] == [(CUSTOMER,)]


def test_orders_wait_while_payments_is_stopped_and_complete_once_it_is_started(dev):
    dev.make("stop", "SERVICE=payments")
    assert not [name for name in dev.pids() if name.startswith("payments:")]
    order_id = place_order(dev)
    wait_until(lambda: dev.consumers("payments") == 0, 10, 0.2, "no consumer on the payments queue")
    assert order_status(dev, order_id) == "PENDING"

    dev.make("start", "SERVICE=payments")
    wait_until(lambda: order_status(dev, order_id) == "CONFIRMED", 30, 0.2, f"order {order_id} CONFIRMED")


def test_scaling_one_process_type_to_four_and_back_leaves_the_others_alone(dev):
    others = {name: pid for name, pid in dev.pids().items() if "notifications-worker" not in name}

    dev.make("scale", "SERVICE=notifications-worker", "N=4")
    wait_until(lambda: dev.consumers(TASKS) == 4, 30, 0.2, f"4 consumers on {TASKS}")

    dev.make("scale", "SERVICE=notifications-worker", "N=1")
    wait_until(lambda: dev.consumers(TASKS) == 1, 30, 0.2, f"1 consumer on {TASKS}")
    after = dev.pids()
    assert {name: after.get(name) for name in others} == others
    assert [name for name in after if "notifications-worker" in name] == [
        "notifications:notifications-worker-0"
    ]
