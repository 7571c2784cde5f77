"""`make down` keeps the volumes: after `make run` every order and outcome is still there, and
messages that were queued when the stack went down are delivered."""

from __future__ import annotations

from harness.load import OrderLoad, order_statuses, settled_statuses
from harness.mail import Mailbox
from harness.waiting import wait_until
from tests.support.composestack import ComposeStack


def test_make_down_then_run_keeps_orders_outcomes_and_queued_messages(shop: ComposeStack):
    shop.make("stop", "SERVICE=notifications-worker")  # the emails of what follows stay queued
    load = OrderLoad(shop.url("ORDERS_PORT"), tokens=("tok_visa", "tok_chargeDeclined"))
    load.place(10, rate_per_s=10)
    load.close()
    orders = load.accepted()
    assert len(orders) == 10

    before = wait_until(
        lambda: settled_statuses(orders, shop.url("ORDERS_PORT")), 60, 0.5, "every order terminal"
    )
    wait_until(
        lambda: shop.queue("notifications.tasks").get("messages", 0) >= 10, 30, 1.0, "10 queued emails"
    )

    shop.make("down")
    assert shop.compose("ps", "--all", "--quiet").split() == []
    shop.make("run", timeout=300)

    assert order_statuses(orders, shop.url("ORDERS_PORT")) == before
    mailbox = Mailbox(shop.mail_url())
    wait_until(lambda: {m.order_id for m in mailbox.list()} >= set(orders), 60, 0.5, "the queued emails")
