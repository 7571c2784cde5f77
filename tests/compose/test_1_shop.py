"""The shop in containers as a person meets it: `make images`, `OFFLINE=1 make run`, locked
down (no capability, no root, logins everywhere), the dashboard in a browser, then `make stop`,
`make start` and `make scale` on the live stack."""

from __future__ import annotations

import json
import subprocess

import pytest
import redis
import requests
from playwright.sync_api import expect

from harness.load import TERMINAL, OrderLoad, order_statuses, settled_statuses
from harness.mail import Mailbox
from harness.waiting import wait_until
from infra.secrets import SERVICES
from tests.support.browser import LAPTOP, card, chromium, place_from_ui, screenshot, unique_email
from tests.support.composestack import ComposeStack


def test_every_container_is_healthy_within_two_minutes_of_make_run(started_shop):
    shop, seconds_to_healthy = started_shop
    assert seconds_to_healthy < 120
    assert shop.all_healthy()
    print(f"make run: every container healthy after {seconds_to_healthy:.0f} s")


def test_the_app_image_stays_small():
    inspect = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Size}}", "event-driven-shop:dev"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(inspect.stdout) <= 250_000_000


def test_every_container_runs_without_capabilities_privilege_gain_root_or_a_writable_root(shop: ComposeStack):
    ids = shop.compose("ps", "--quiet").split()
    inspected = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True)
    for container in json.loads(inspected.stdout):
        name, host = container["Name"], container["HostConfig"]
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"], name
        assert host["SecurityOpt"] == ["no-new-privileges:true"], name
        assert host["ReadonlyRootfs"] is True, name
        assert container["Config"]["User"] not in ("", "0", "root", "0:0"), name


def test_nothing_answers_without_the_credentials_of_the_stack(shop: ComposeStack):
    management = shop.url("RABBITMQ_MANAGEMENT_PORT") + "/api/users"
    assert requests.get(management, timeout=5).status_code == 401
    assert requests.get(management, auth=("guest", "guest"), timeout=5).status_code == 401
    users = {user["name"] for user in requests.get(management, auth=shop.admin, timeout=5).json()}
    assert users == {"admin", *SERVICES}, "no guest, no user the definitions do not hold"
    assert requests.get(shop.url("FLOWER_PORT"), timeout=5).status_code == 401
    assert requests.get(shop.url("FLOWER_PORT"), auth=shop.admin, timeout=5).ok
    # Flower inspects the workers through its own exchanges, and their answers come back
    inspected = wait_until(
        lambda: _flower_workers(shop), 60, interval=1, what="Flower's inspection of both Celery services"
    )
    assert {"payments", "notifications"} <= {name.split("@")[0] for name in inspected}
    assert requests.get(shop.url("SMTP_SINK_HTTP_PORT") + "/api/v1/messages", timeout=5).status_code == 401

    port = int(shop.ports["REDIS_PORT"])
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()  # the default user is off
    orders = redis.Redis(port=port, db=1, username="orders", password=shop.secrets["ORDERS_REDIS_PASSWORD"])
    assert orders.ping()
    with pytest.raises(redis.exceptions.NoPermissionError):
        orders.get("payments:anything")  # another service's key
    with pytest.raises(redis.exceptions.NoPermissionError):
        orders.flushall()
    admin = redis.Redis(port=port, username="admin", password=shop.secrets["REDIS_ADMIN_PASSWORD"])
    assert admin.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_an_order_placed_in_the_dashboard_is_confirmed_and_mailed(shop: ComposeStack):
    with chromium() as browser:
        page = browser.new_context(viewport=LAPTOP).new_page()
        page.goto(shop.url("DASHBOARD_PORT"))
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=20_000)
        expect(page.locator("#catalog .product").first).to_be_visible(timeout=20_000)  # before ordering
        order_id = place_from_ui(page, unique_email("compose"), "tok_visa")
        expect(card(page, order_id, "CONFIRMED")).to_be_visible(timeout=30_000)
        screenshot(page, "compose-order-confirmed")
    mailbox = Mailbox(shop.mail_url())
    wait_until(lambda: any(m.order_id == order_id for m in mailbox.list()), 30, 0.5, "the email")


def test_orders_wait_while_payments_is_stopped_and_complete_once_it_starts(shop: ComposeStack):
    shop.make("stop", "SERVICE=payments")
    assert shop.containers("payments-consumer") == [] and shop.containers("payments-worker") == []
    load = OrderLoad(shop.url("ORDERS_PORT"), tokens=("tok_visa", "tok_chargeDeclined"))
    load.place(10, rate_per_s=10)
    load.close()
    assert [r.status_code for r in load.records] == [202] * 10
    assert set(order_statuses(load.accepted(), shop.url("ORDERS_PORT")).values()) == {"PENDING"}

    shop.make("start", "SERVICE=payments")
    final = wait_until(
        lambda: settled_statuses(load.accepted(), shop.url("ORDERS_PORT")),
        60,
        0.5,
        "every order terminal after the restart",
    )
    assert set(final.values()) == set(TERMINAL)


def test_notification_workers_scale_to_four_consumers_and_back(shop: ComposeStack):
    shop.make("scale", "SERVICE=notifications-worker", "N=4")
    assert len(shop.containers("notifications-worker")) == 4
    wait_until(lambda: shop.consumers("notifications.tasks") == 4, 60, 0.5, "4 consumers on the queue")

    shop.make("scale", "SERVICE=notifications-worker", "N=1")
    assert len(shop.containers("notifications-worker")) == 1
    wait_until(lambda: shop.consumers("notifications.tasks") == 1, 60, 0.5, "1 consumer on the queue")
    assert requests.get(shop.url("NOTIFICATIONS_PORT") + "/readyz", timeout=5).status_code == 200


def _flower_workers(shop: ComposeStack) -> dict[str, dict]:
    """The workers Flower got an inspection answer from (refreshed: it asks them now)."""
    url = shop.url("FLOWER_PORT") + "/api/workers"
    workers = requests.get(url, params={"refresh": "1"}, auth=shop.admin, timeout=30).json()
    answered = {name: info for name, info in workers.items() if info.get("stats")}
    return answered if {name.split("@")[0] for name in answered} >= {"payments", "notifications"} else {}
