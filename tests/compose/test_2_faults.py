"""One fault at a time while 200 mixed orders flow through the containers: a worker killed, the
broker restarted, Redis restarted, a consumer cut off its network. After each: every accepted
order terminal, none lost, no order charged twice, no customer mailed twice."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.support.composestack import ComposeStack
from tests.support.faults import under_load

ORDERS = 200
RATE_PER_S = 25


def kill_a_payments_worker(shop: ComposeStack) -> None:
    """SIGKILL mid-task; an operator (or an orchestrator) starts it again a few seconds later."""
    (container,) = shop.containers("payments-worker")
    shop.docker("kill", container)
    time.sleep(3)  # the outage itself: the worker stays down for these seconds
    shop.docker("start", container)


def restart_the_broker(shop: ComposeStack) -> None:
    (container,) = shop.containers("rabbitmq")
    shop.docker("restart", container)


def restart_redis(shop: ComposeStack) -> None:
    (container,) = shop.containers("redis")
    shop.docker("restart", container)


def cut_off_the_payments_consumer(shop: ComposeStack) -> None:
    (container,) = shop.containers("payments-consumer")
    network = f"{shop.project}_default"
    shop.docker("network", "disconnect", network, container)
    time.sleep(10)  # the outage itself: ten seconds without a network
    shop.docker("network", "connect", network, container)


# Each fault, and the share of orders the API must still accept meanwhile: it needs only its
# Redis (the outbox decouples it from the broker), so only a Redis restart refuses orders.
FAULTS = {
    "payments-worker killed": (kill_a_payments_worker, 1.0),
    "rabbitmq restarted": (restart_the_broker, 1.0),
    "redis restarted": (restart_redis, 0.5),
    "payments-consumer cut off for 10 s": (cut_off_the_payments_consumer, 1.0),
}


@pytest.mark.parametrize(("fault", "intake"), FAULTS.values(), ids=FAULTS.keys())
def test_a_fault_under_load_loses_and_doubles_nothing(
    shop: ComposeStack, fault: Callable[[ComposeStack], None], intake: float
):
    report = under_load(shop, fault.__name__, lambda: fault(shop), ORDERS, RATE_PER_S, intake)
    assert report.accepted >= intake * ORDERS
