"""A service task as shared.tasks makes it: registered under its own name, retried, counted, sent by id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.celery_app import celery_app
from shared.consumer import OUTAGES
from shared.metrics import PROCESS_REGISTRY
from shared.publisher import Message, PublishError
from shared.settings import Settings
from shared.tasks import MAX_RETRIES, id_task


class ItemBusy(Exception):
    """This test service's transient error."""


@id_task(task_id_prefix="check", transient=(ItemBusy,), retry_backoff_max_s=7)
def check_item(item_id: str) -> str:
    if item_id == "busy":
        raise ItemBusy(item_id)
    return "checked"


def counted(outcome: str) -> float:
    labels = {"task": "check_item", "outcome": outcome}
    return PROCESS_REGISTRY.get_sample_value("shop_tasks_total", labels) or 0.0


@pytest.fixture
def task():
    return celery_app(Settings(service="unit")).tasks[check_item.name]


def test_the_task_is_registered_under_its_module_and_name_with_the_retry_policy(task) -> None:
    assert check_item.name == f"{__name__}.check_item" == task.name
    assert {ItemBusy, PublishError, RedisConnectionError} <= set(task.autoretry_for)
    assert (task.max_retries, task.retry_backoff_max, task.retry_jitter) == (MAX_RETRIES, 7, True)


def test_each_outcome_is_counted_and_a_transient_failure_is_raised_for_a_retry(task) -> None:
    checked, transient = counted("checked"), counted("transient_failure")

    assert task("item-1") == "checked"
    with pytest.raises(ItemBusy):
        task("busy")

    assert (counted("checked"), counted("transient_failure")) == (checked + 1, transient + 1)


class RecordingPublisher:
    """Stands in for the consumer's Publisher: remembers what it was given to send, or fails
    like one whose broker never confirmed."""

    def __init__(self, *, confirmed: bool = True) -> None:
        self.confirmed = confirmed
        self.sent: list[Message] = []

    def send_many(self, messages: list[Message], timeout: float) -> None:
        assert timeout > 0  # a silent node must not hold the sender for good
        if not self.confirmed:
            raise PublishError(f"no confirm within {timeout}s")
        self.sent.extend(messages)


def as_celery_sends_it(task_name: str, object_id: str, task_id: str) -> dict[str, Any]:
    """The message Celery's own apply_async publishes, read back from kombu's in-memory broker."""
    app = celery_app(Settings(service="unit"), broker_url="memory://")
    app.tasks[task_name].apply_async((object_id,), task_id=task_id)
    with app.connection_for_read() as connection:
        (queue,) = app.conf.task_queues
        message = queue(connection.default_channel).get(no_ack=True)
    delivery = message.delivery_info
    return {
        "route": (delivery["exchange"], delivery["routing_key"]),
        "headers": message.headers,
        "body": message.decode(),
        "content": (message.content_type, message.content_encoding),
        "persistent": message.properties["delivery_mode"] == 2,
        "correlation_id": message.properties["correlation_id"],
    }


def as_we_send_it(message: Message) -> dict[str, Any]:
    props = message.properties
    return {
        "route": (message.exchange, message.routing_key),
        "headers": props.headers,
        "body": json.loads(message.body),
        "content": (props.content_type, props.content_encoding),
        "persistent": props.delivery_mode == 2,
        "correlation_id": props.correlation_id,
    }


def test_a_consumer_sends_the_message_celery_would_send_with_the_id_alone() -> None:
    publisher = RecordingPublisher()
    celery_app(Settings(service="unit"))

    check_item.sent_by(publisher)("o-1")

    (message,) = publisher.sent
    assert as_we_send_it(message) == as_celery_sends_it(check_item.name, "o-1", "check-o-1")
    assert message.properties.headers["id"] == "check-o-1"
    assert json.loads(message.body)[0] == ["o-1"]


def test_a_task_the_broker_did_not_take_is_an_outage_for_the_sender() -> None:
    celery_app(Settings(service="unit"))

    with pytest.raises(PublishError, match="no confirm"):
        check_item.sent_by(RecordingPublisher(confirmed=False))("o-1")

    assert PublishError in OUTAGES  # the consumer keeps the event and tries again later
