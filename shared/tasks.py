"""A reliable, thin Celery task that takes an id: what every service task is.

    @id_task(task_id_prefix="charge", transient=(GatewayUnavailable,), retry_backoff_max_s=30)
    def charge_order(order_id: str) -> str:
        return worker_handlers(bootstrap).commands["charge_order"](order_id)

    enqueue_charge = charge_order.sent_by(publisher)     # in the consumer
    enqueue_charge(order_id)

The task takes only an id (the record it names is in the service's Redis), so a retried or
redelivered task always works from the current state. Its task id is derived from that id,
so duplicates are recognisable in logs and Flower. It retries the service's transient errors
and those every task has with exponential backoff and full jitter, and counts each outcome in
`shop_tasks`. Its command is wired once per worker process, on first use.

A consumer sends tasks on its service's pipelined Publisher (shared.publisher), the message
built by Celery itself: Celery's own `apply_async` waits for each confirm on a connection of
its own, and at hundreds of tasks a second its producer path (kombu, py-amqp) cost more CPU
than the handler that enqueued (profiled, README "What one order costs"). The worker's own
retries still go through Celery.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pika
from celery import shared_task
from flask import current_app
from kombu.serialization import dumps

from shared.bootstrap import Bootstrap, Command, Handlers
from shared.celery_app import worker_publisher
from shared.consumer import OUTAGES
from shared.metrics import TASKS
from shared.publisher import Message, Publisher
from shared.tracing import Outgoing, publishing, tracing_on

# Transient for every task: a dependency away (shared.consumer.OUTAGES: redis-py gives up after
# its own few retries, and a publish the broker did not confirm is safe to repeat, outcome events
# having deterministic ids).
TRANSIENT = OUTAGES
# A confirm that does not come in time (its node cut off, the connection silent) fails the
# enqueue instead of holding the consumer's thread for good: the event waits in a delay queue
# while the publisher moves on to the next node.
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

    def message(self, object_id: str) -> Message:
        """The task as Celery's `apply_async` would send it (protocol 2, made by Celery's own
        `create_task_message`), to the task exchange of the app's configuration."""
        app = self.task.app
        task_id = self.task_id(object_id)
        headers, properties, body, _ = app.amqp.create_task_message(
            task_id, self.name, (object_id,), {}, ignore_result=app.conf.task_ignore_result
        )
        content_type, content_encoding, payload = dumps(body, serializer=app.conf.task_serializer)
        return Message(
            exchange=app.conf.task_default_exchange,
            routing_key=app.conf.task_default_routing_key,
            body=payload.encode(content_encoding) if isinstance(payload, str) else payload,
            properties=pika.BasicProperties(
                content_type=content_type,
                content_encoding=content_encoding,
                delivery_mode=pika.DeliveryMode.Persistent,
                priority=0,
                correlation_id=properties["correlation_id"],
                headers=headers,
            ),
        )

    def sent_by(self, publisher: Publisher) -> Callable[[str], None]:
        """How a consumer enqueues: send the task and return once the broker confirmed it, so
        the queue has it before the event is acked. A publish the broker did not confirm within
        TASK_CONFIRM_TIMEOUT_S raises a PublishError: an outage for the consumer, which keeps
        the event and tries again later. Traced, the task carries its publish span (which the
        worker's Celery instrumentation continues)."""

        def enqueue(object_id: str) -> None:
            message = self.message(object_id)
            if not tracing_on():
                publisher.send_many([message], timeout=TASK_CONFIRM_TIMEOUT_S)
                return
            outgoing = Outgoing(message.routing_key, message.properties.correlation_id, traceparent="")
            with publishing(message.exchange, [outgoing]) as (trace_headers,):
                message.properties.headers.update(trace_headers)
                publisher.send_many([message], timeout=TASK_CONFIRM_TIMEOUT_S)

        return enqueue


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
