"""A service task as shared.tasks makes it: registered under its own name, retried, counted, sent by id."""

from __future__ import annotations

import pytest
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.celery_app import celery_app
from shared.consumer import OUTAGES
from shared.metrics import PROCESS_REGISTRY
from shared.publisher import PublishError
from shared.settings import Settings
from shared.tasks import MAX_RETRIES, IdTask, id_task


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


class SentTasks:
    """Stands in for a Celery task: remembers what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[tuple[str, ...], str]] = []

    def apply_async(self, args: tuple[str, ...], task_id: str, confirm_timeout: float) -> None:
        assert confirm_timeout > 0  # a silent node must not hold the sender for good
        self.sent.append((args, task_id))


class UnreachableBroker:
    """Stands in for a Celery task whose publish failed through all of Celery's retries."""

    def apply_async(self, args: tuple[str, ...], task_id: str, confirm_timeout: float) -> None:
        raise OperationalError("[Errno 111] Connection refused")


def test_a_task_is_sent_with_its_id_alone_and_a_task_id_made_from_it() -> None:
    sent = SentTasks()

    IdTask("shop.charge_order", "charge", sent).enqueue("o-1")
    IdTask("shop.charge_order", "charge", sent).enqueue("o-1")

    assert sent.sent == [(("o-1",), "charge-o-1")] * 2


def test_a_task_the_broker_did_not_take_is_an_outage_for_the_sender() -> None:
    with pytest.raises(PublishError, match="charge_order o-1 not enqueued"):
        IdTask("shop.charge_order", "charge", UnreachableBroker()).enqueue("o-1")

    assert PublishError in OUTAGES  # the consumer keeps the event and tries again later
