"""One fault at a time while 200 mixed orders flow through the containers: a worker killed, the
broker restarted, Redis restarted, a consumer cut off its network. After each: every accepted
order terminal, none lost, no order charged twice, no customer mailed twice."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import pytest

from harness.load import TERMINAL, OrderLoad, gateway_charges, order_statuses, settled_statuses
from harness.mail import Mailbox
from harness.waiting import wait_until
from tests.support.composestack import ComposeStack

ORDERS = 200
RATE_PER_S = 25
TOKENS = ("tok_visa", "tok_visa", "tok_chargeDeclined", "tok_flaky")
# A consumer cut off its network notices only by the missing heartbeats (60 s) before its
# deliveries go back to the queue: the drain allows for that.
DRAIN_TIMEOUT_S = 240


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
    load = OrderLoad(shop.url("ORDERS_PORT"), tokens=TOKENS, timeout_s=10)
    load.start(RATE_PER_S, ORDERS)
    wait_until(lambda: len(load.records) >= ORDERS // 3, 60, 0.1, "a third of the orders placed")
    fault(shop)
    load.wait()
    load.close()
    placed_until = time.monotonic()
    accepted = load.accepted()
    assert len(accepted) >= intake * ORDERS, f"intake: {len(accepted)} of {ORDERS} accepted"

    try:
        wait_until(
            lambda: settled_statuses(accepted, shop.url("ORDERS_PORT")),
            DRAIN_TIMEOUT_S,
            1.0,
            "every accepted order terminal",
        )
    except AssertionError:
        statuses = order_statuses(accepted, shop.url("ORDERS_PORT"))
        stuck = [order for order, status in statuses.items() if status not in TERMINAL]
        raise AssertionError(
            f"orders not terminal: {collections.Counter(statuses.values())}\n{shop.diagnosis(stuck)}"
        ) from None
    print(
        f"intake {len(accepted)}/{ORDERS}, every order terminal {time.monotonic() - placed_until:.1f} s later"
    )
    shop.wait_healthy()

    charges = gateway_charges(accepted, shop.url("PAYMENTS_PORT"))
    assert [o for o, n in charges.items() if n > 1] == [], "charged twice"
    mailbox = Mailbox(shop.mail_url())
    wanted = set(accepted)

    def emails() -> collections.Counter[str] | None:
        counted = collections.Counter(m.order_id for m in mailbox.list() if m.order_id in wanted)
        return counted if counted.keys() == wanted else None

    per_order = wait_until(emails, 120, 1.0, "an email for every order")
    assert [o for o, n in per_order.items() if n > 1] == [], "mailed twice"
