"""Celery configured for reliability, from a service's settings; wired the Flask way
(`celery_init_app`) where a Flask app exists.

Task queues are private to a service (`<service>.tasks`) and are quorum queues on a
topic exchange of the same name, which lets Celery's native delayed delivery carry
retry countdowns without holding tasks in worker memory (its delay queues are infra's, see
`TaskConsumer`). A task is acked after it ran
(`acks_late`), requeued if its worker dies (`reject_on_worker_lost`), dead-lettered to
`<service>.dlq` once its retries are spent (at-least-once, like the event queues), published
with confirms, one at a time per worker thread (prefetch 1), JSON only.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Celery, Task
from celery.app.trace import LOG_SUCCESS
from celery.events.dispatcher import EventDispatcher
from celery.signals import worker_process_shutdown, worker_shutdown
from celery.worker import heartbeat
from celery.worker.consumer import Consumer
from celery.worker.consumer.heart import Heart as HeartStep
from flask import Flask, current_app
from kombu import Exchange, Queue

from shared import topology
from shared.broker import broker_urls, spread
from shared.logs import configure_logging
from shared.metrics import start_flusher
from shared.publisher import Publisher
from shared.settings import Settings


def celery_app(
    settings: Settings, *, task_cls: type[Task] | str = "celery.app.task:Task", **config: Any
) -> Celery:
    """The service's Celery app, from its settings alone: a consumer enqueues with it without
    building the web app. It becomes the default app, which `@shared_task` tasks send with."""
    name = topology.task_queue(settings.service)
    queue = Queue(
        name,
        Exchange(name, type="topic", durable=True),
        routing_key=name,
        queue_arguments=topology.task_queue_arguments(settings.service),
    )
    celery = Celery(settings.service, task_cls=task_cls)
    celery.conf.update(
        # AMQP_URL may list a cluster's nodes (Celery's own `;` syntax, shared.broker). Kombu
        # always connects to the first one listed, so each process starts at a random node (a
        # cluster's clients spread over its nodes); after losing it, it draws the next one at
        # random (the lost node's clients spread too). A worker's heartbeat notices a node cut
        # off from the network within seconds (the server proposes 60 s). Consumers send their
        # tasks on their own Publisher instead (shared.tasks): only a worker's retries come here.
        broker_url=";".join(spread(broker_urls(settings.amqp_url))),
        broker_failover_strategy="shuffle",
        broker_heartbeat=5,
        broker_connection_retry_on_startup=True,
        # A publish that fails is retried, each time on the next node, sleeping (up to 2 s) after
        # every round of them: ~15 s with a single broker, long enough to ride out a node's loss or
        # a restart, where Celery's default gives up after 3 quick retries (and kombu after its
        # 4 s connect timeout: `connect_retries_timeout` lets the policy decide). A publish that
        # still fails raises, and the consumer that enqueued keeps the event (shared.tasks).
        task_publish_retry_policy={
            "max_retries": 10,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 2,
        },
        broker_transport_options={"confirm_publish": True, "connect_retries_timeout": 15},
        task_queues=[queue],
        task_default_queue=name,
        task_default_exchange=name,
        task_default_exchange_type="topic",
        task_default_routing_key=name,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A task that failed for good (retries exhausted, or a permanent error) is rejected,
        # not acked: the queue dead-letters it to `<service>.dlq`, visible and replayable.
        task_acks_on_failure_or_timeout=False,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,
        worker_detect_quorum_queues=True,
        worker_consumer=f"{__name__}:TaskConsumer",
        worker_hijack_root_logger=False,
        # Remote control and task events on exchanges named after the service, which only its
        # broker user may use: no service can command (or listen to) another's workers. Infra
        # binds Celery's default exchanges to them for Flower (topology.celery_monitor_topology).
        control_exchange=settings.service,
        event_exchange=topology.event_exchange(settings.service),
        # Task events cost several broker messages per task; Flower switches them on in the
        # workers it watches (its `enable_events`), so they are not sent when nobody listens.
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    celery.conf.update(config)
    _quiet_routine_task_logs()
    celery.set_default()
    return celery


# How a worker's heartbeat event retries a lost connection: a few times, then the heartbeat is
# dropped and the next one starts over on a new channel. Celery retries it without limit, and
# kombu (5.7) retries the exchange declaration inside that publish on the channel of the dead
# connection, reconnecting each time: once a worker's node was cut off, its main loop, which also
# takes its tasks, spun on that for good (tests/cluster/test_chaos.py, after a node was killed).
HEARTBEAT_RETRY_POLICY = {"max_retries": 3, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


class _RetriesBounded:
    """The worker's event dispatcher as its heartbeat uses it: every send with HEARTBEAT_RETRY_POLICY."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self._dispatcher = dispatcher

    def send(self, *args: Any, **kwargs: Any) -> Any:
        return self._dispatcher.send(*args, retry_policy=HEARTBEAT_RETRY_POLICY, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dispatcher, name)


class BoundedHeart(HeartStep):
    """Celery's heartbeat step (worker-heartbeat events, while Flower listens), retries bounded."""

    def start(self, c: Consumer) -> None:
        c.heart = heartbeat.Heart(c.timer, _RetriesBounded(c.event_dispatcher), self.heartbeat_interval)
        c.heart.start()


class TaskConsumer(Consumer):
    """Celery's worker consumer with its heartbeat step's retries bounded (`BoundedHeart`) and
    without its DelayedDelivery step, which declares the delay queues every Celery service's
    retries pass through and binds the task queue to them: infra declares both
    (shared.topology.celery_delayed_topology and task_topology), since a service that could
    declare those queues could also read or delete the others' pending retries."""

    class Blueprint(Consumer.Blueprint):
        default_steps = [
            f"{__name__}:BoundedHeart" if step.endswith(":Heart") else step
            for step in Consumer.Blueprint.default_steps
            if not step.endswith(":DelayedDelivery")
        ]


def celery_init_app(app: Flask) -> Celery:
    """`celery_app` for a Flask app (its `SETTINGS`, and its `CELERY` config on top): every
    task runs inside the app's context, where it finds the service's settings and Redis."""

    class FlaskTask(Task):
        def __call__(self, *args: object, **kwargs: object) -> object:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = celery_app(app.config["SETTINGS"], task_cls=FlaskTask, **app.config.get("CELERY", {}))
    app.extensions["celery"] = celery
    return celery


def worker_app(app: Flask) -> Celery:
    """What `celery --app services.<name>.worker` runs: the service app's Celery, logging as a worker."""
    configure_logging(app.config["SETTINGS"], "worker")
    return app.extensions["celery"]


class _DropSuccessLines(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != LOG_SUCCESS


def _quiet_routine_task_logs() -> None:
    """Celery logs "received" and "succeeded" for every task; the task's own handler already logs
    what it did, and at hundreds of tasks a second those two lines cost real CPU. Retries and
    failures are still logged."""
    logging.getLogger("celery.worker.strategy").setLevel(logging.WARNING)
    trace = logging.getLogger("celery.app.trace")
    if not any(isinstance(f, _DropSuccessLines) for f in trace.filters):
        trace.addFilter(_DropSuccessLines())


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()


def worker_publisher() -> Publisher:
    """The worker process's one Publisher, made on first use inside a task (so a prefork
    child never inherits its parent's socket), with the process's metrics flusher."""
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            settings, redis = current_app.config["SETTINGS"], current_app.extensions["redis"]
            _publisher = Publisher(settings.amqp_url, name=f"{settings.service}-worker")
            start_flusher(redis, settings.key("metrics"))
        return _publisher


@worker_process_shutdown.connect
@worker_shutdown.connect
def _close_worker_publisher(**_: object) -> None:
    """Wait for the confirms still in flight before the worker exits."""
    if _publisher is not None:
        _publisher.close()
