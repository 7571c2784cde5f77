"""A task's retries wait in Celery's shared delay queues, which only infra may declare: a
service's worker, as its own user, still gets every retry home."""

from __future__ import annotations

from celery.contrib.testing.worker import start_worker

from harness.sandbox import Sandbox
from harness.waiting import wait_until
from infra.stack import core_topology
from shared import topology
from shared.celery_app import celery_app


def test_a_task_back_from_a_delay_and_retried_at_once_comes_home_again(sandbox: Sandbox) -> None:
    """Back from the delay queues, a task's delivery info names the exchange it was last
    dead-lettered to (a 2 s delay waits at level 1, then leaves through `celery_delayed_0`), where
    Celery republishes a retry without countdown (full jitter can draw none): the payments user
    may publish there, for its own task queue only (infra/privileges.py)."""
    topology.apply(sandbox.amqp_url, core_topology())
    worker = celery_app(sandbox.settings_for("payments"))
    came_through: list[str] = []

    @worker.task(bind=True, name="tests.retried_twice", max_retries=2)
    def retried_twice(self) -> None:
        came_through.append(self.request.delivery_info["exchange"])
        if len(came_through) < 3:
            raise self.retry(countdown=2 if len(came_through) == 1 else 0)

    with start_worker(worker, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        retried_twice.delay()
        wait_until(lambda: len(came_through) == 3, 30, what="the task's third run")
    assert came_through == ["payments.tasks", "celery_delayed_0", "celery_delayed_0"]
