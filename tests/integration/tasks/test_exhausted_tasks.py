"""A Celery task whose retries are spent is dead-lettered, never silently acked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.sandbox import Sandbox, rabbitmqctl
from harness.waiting import wait_until
from shared import topology
from tests.integration.tasks import failing_app

ROOT = Path(__file__).resolve().parents[3]


def messages(sandbox: Sandbox, queue: str) -> int:
    rows = rabbitmqctl("list_queues", "-p", sandbox.vhost, "name", "messages").splitlines()
    return int(dict(row.split("\t") for row in rows if "\t" in row).get(queue, "-1"))


def queue_arguments(sandbox: Sandbox, queue: str) -> dict[str, object]:
    """The arguments the queue was declared with (rabbitmqctl lists them as name, type, value)."""
    listing = rabbitmqctl("list_queues", "-p", sandbox.vhost, "name", "arguments", "--formatter", "json")
    row = next(row for row in json.loads(listing) if row["name"] == queue)
    return {name: value for name, _type, value in row["arguments"]}


def test_a_task_out_of_retries_lands_in_the_service_dlq(sandbox: Sandbox, tmp_path: Path) -> None:
    service = failing_app.SERVICE  # its topology as infra declares it, task queue included
    topology.apply(
        sandbox.amqp_url,
        topology.service_topology(service, ["order.placed"]) + topology.task_topology(service),
    )
    env = {**os.environ, **sandbox.env(), "PYTHONPATH": str(ROOT)}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "--app",
                "tests.integration.tasks.failing_app:celery",
                "worker",
                "--pool",
                "threads",
                "--queues",
                "tasktest.tasks",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from tests.integration.tasks import failing_app as f; "
                "f.always_failing.apply_async(('order-1',), task_id='charge-order-1')",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=30,
        )
        wait_until(lambda: messages(sandbox, "tasktest.dlq") == 1, 60, 0.5, "the task in tasktest.dlq")
        assert messages(sandbox, "tasktest.tasks") == 0
        # as the worker declared it: a dead letter leaves the task queue only once the DLQ has it
        arguments = queue_arguments(sandbox, "tasktest.tasks")
        assert arguments["x-dead-letter-strategy"] == "at-least-once"
        assert arguments["x-overflow"] == "reject-publish"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert "the gateway never answers for order-1" in log.read_text()
