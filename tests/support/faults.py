"""A fault while mixed orders flow through the containers, and the ledger afterwards: every
accepted order terminal, none charged twice, every customer mailed exactly once.

The compose suite's faults (tests/compose/test_2_faults.py) and the cluster's chaos tests
(tests/cluster) run their faults through it.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from harness.load import TERMINAL, OrderLoad, gateway_charges, order_statuses, settled_statuses
from harness.mail import Mailbox
from harness.progress import EmailProgress
from harness.waiting import wait_until
from tests.support.composestack import ComposeStack

# Some declined, some retried by the payment gateway (tok_flaky fails twice, then charges).
TOKENS = ("tok_visa", "tok_visa", "tok_chargeDeclined", "tok_flaky")
# A consumer cut off its network notices only by the missing heartbeats before its deliveries
# go back to the queue: the drain allows for that.
DRAIN_TIMEOUT_S = 240


@dataclass(frozen=True)
class FaultReport:
    fault: str
    orders: int
    accepted: int
    longest_stall_s: float  # the longest time without a new email while orders were due
    drain_s: float  # from the last order placed until the last email

    @property
    def intake(self) -> float:
        return self.accepted / self.orders

    def line(self) -> str:
        return (
            f"{self.fault}: intake {self.accepted}/{self.orders} ({self.intake:.1%}), "
            f"longest stall {self.longest_stall_s:.1f} s, drain {self.drain_s:.1f} s"
        )

    def as_dict(self) -> dict[str, float | int | str]:
        return {**asdict(self), "intake": self.intake}


def under_load(
    shop: ComposeStack, name: str, fault: Callable[[], None], orders: int, rate_per_s: float, intake: float
) -> FaultReport:
    """Place `orders` at `rate_per_s`, run `fault` once a third are placed, then check the ledger:
    at least `intake` of them accepted, every accepted one terminal, charged at most once and
    mailed exactly once."""
    mailbox = Mailbox(shop.mail_url())
    already_mailed = mailbox.count()
    progress = EmailProgress(mailbox)
    load = OrderLoad(shop.url("ORDERS_PORT"), tokens=TOKENS, timeout_s=10)
    progress.start()
    started = time.monotonic()
    try:
        load.start(rate_per_s, orders)
        wait_until(lambda: len(load.records) >= orders // 3, 60, 0.1, "a third of the orders placed")
        fault()
        load.wait()
        load.close()
        placed_until = time.monotonic()
        accepted = load.accepted()
        assert len(accepted) >= intake * orders, f"intake: {len(accepted)} of {orders} accepted"
        wait_terminal(shop, accepted)
        per_order = wait_mailed_once(mailbox, accepted)
        wait_until(
            lambda: progress.first_time_at(already_mailed + len(accepted)), 10, 0.1, "the last email sampled"
        )
    finally:
        progress.stop()
    shop.wait_healthy()
    charges = gateway_charges(accepted, shop.url("PAYMENTS_PORT"))
    assert {o: n for o, n in charges.items() if n > 1} == {}, "charged twice"
    assert {o: n for o, n in per_order.items() if n > 1} == {}, "mailed twice"
    every_email = already_mailed + len(accepted)
    report = FaultReport(
        fault=name,
        orders=orders,
        accepted=len(accepted),
        longest_stall_s=progress.longest_stall(started, every_email),
        drain_s=max(0.0, (progress.first_time_at(every_email) or placed_until) - placed_until),
    )
    print(report.line())
    return report


def wait_terminal(shop: ComposeStack, accepted: list[str]) -> None:
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


def wait_mailed_once(mailbox: Mailbox, accepted: list[str]) -> collections.Counter[str]:
    """Every accepted order's email arrived; returns how many each got."""
    wanted = set(accepted)

    def emails() -> collections.Counter[str] | None:
        counted = collections.Counter(m.order_id for m in mailbox.list() if m.order_id in wanted)
        return counted if counted.keys() == wanted else None

    return wait_until(emails, 120, 1.0, "an email for every order")
