"""A reliable, thin Celery task that takes an id: what every service task is.

    @id_task(task_id_prefix="charge", transient=(GatewayUnavailable,), retry_backoff_max_s=30)
    def charge_order(order_id: str) -> str:
        return worker_handlers(bootstrap).commands["charge_order"](order_id)

    charge_order.enqueue(order_id)      # in the consumer

The task takes only an id (the record it names is in the service's Redis), so a retried or
redelivered task always works from the current state. Its task id is derived from that id,
so duplicates are recognisable in logs and Flower. It retries the service's transient errors
and those every task has with exponential backoff and full jitter, and counts each outcome in
`shop_tasks`. Its command is wired once per worker process, on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from flask import current_app
from kombu.exceptions import OperationalError

from shared.bootstrap import Bootstrap, Command, Handlers
from shared.celery_app import worker_publisher
from shared.consumer import OUTAGES
from shared.metrics import TASKS
from shared.publisher import PublishError

# Transient for every task: a dependency away (shared.consumer.OUTAGES: redis-py gives up after
# its own few retries, and a publish the broker did not confirm is safe to repeat, outcome events
# having deterministic ids).
TRANSIENT = OUTAGES
# A confirm that does not come (its node cut off, the connection silent) fails the publish, which
# Celery then retries on the next node, instead of holding the consumer's thread for good.
TASK_CONFIRM_TIMEOUT_S = 5
# Enough, with each service's backoff cap, to outlast a dependency that is away for minutes
# and a claim left by a dead worker (its lease runs out after 30 s).
MAX_RETRIES = 40


@dataclass(frozen=True)
class IdTask:
    """A registered task and how to send it: one argument, the id, and a task id made from it."""

    name: str
    task_id_prefix: str
    task: Any  # the Celery task (a proxy until the app is finalized)

    def task_id(self, object_id: str) -> str:
        return f"{self.task_id_prefix}-{object_id}"

    def enqueue(self, object_id: str) -> None:
        """Send the task; once the broker confirmed it, it is the queue's. A publish the broker
        did not confirm within Celery's retries (shared.celery_app) raises a PublishError: an
        outage for the consumer that enqueues, which keeps the event and tries again later."""
        try:
            self.task.apply_async(
                (object_id,), task_id=self.task_id(object_id), confirm_timeout=TASK_CONFIRM_TIMEOUT_S
            )
        except OperationalError as exc:
            raise PublishError(f"{self.name} {object_id} not enqueued: {exc}") from exc


def id_task(
    *, task_id_prefix: str, transient: tuple[type[Exception], ...], retry_backoff_max_s: int
) -> Callable[[Command], IdTask]:
    """Register `run(id) -> outcome` as a `@shared_task` under its own name, retrying `transient`
    errors and `TRANSIENT` ones, and counting every outcome (`transient_failure` for a retry)."""
    retried = (*transient, *TRANSIENT)

    def register(run: Command) -> IdTask:
        name = run.__name__

        @functools.wraps(run)
        def counted(object_id: str) -> str:
            try:
                outcome = run(object_id)
            except retried:
                TASKS.labels(name, "transient_failure").inc()
                raise
            TASKS.labels(name, outcome).inc()
            return outcome

        task = shared_task(
            autoretry_for=retried,
            retry_backoff=1,
            retry_backoff_max=retry_backoff_max_s,
            retry_jitter=True,
            max_retries=MAX_RETRIES,
        )(counted)
        return IdTask(f"{run.__module__}.{name}", task_id_prefix, task)

    return register


@functools.cache
def worker_handlers(bootstrap: Bootstrap) -> Handlers:
    """This worker process's handlers, wired once, inside its first task: from the app context
    the task runs in (settings, Redis) and the process's one publisher."""
    settings, redis = current_app.config["SETTINGS"], current_app.extensions["redis"]
    return bootstrap(settings, redis, publish=worker_publisher().publish)
