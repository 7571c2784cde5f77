"""Prometheus (Debian's, the offline stand-in) scrapes every service's web process and RabbitMQ's
per-queue metrics, all of them up, on the shared stack: no stack of its own."""

from __future__ import annotations

import requests

from harness.waiting import wait_until
from tests.static.test_observability import RABBITMQ_METRICS
from tests.support.composestack import ComposeStack

ALWAYS_SCRAPED = {"orders", "payments", "notifications", "dashboard", "rabbitmq"}


def prometheus_api(shop: ComposeStack, path: str, **params: str) -> dict:
    response = requests.get(f"{shop.url('PROMETHEUS_PORT')}/api/v1/{path}", params=params, timeout=5)
    response.raise_for_status()
    return response.json()["data"]


def every_target_up(shop: ComposeStack) -> dict[str, str]:
    """Each job's target health, once every service's target is there and all of them are up."""
    targets = prometheus_api(shop, "targets", state="active")["activeTargets"]
    health = {target["labels"]["job"]: target["health"] for target in targets}
    return health if set(health) >= ALWAYS_SCRAPED and set(health.values()) == {"up"} else {}


def test_prometheus_reports_every_target_up_with_rabbitmqs_metrics_per_queue(shop: ComposeStack):
    health = wait_until(lambda: every_target_up(shop), 60, 1.0, "every Prometheus target up")
    # loyalty's target exists exactly while it runs (the subscriber demo may have started it)
    assert set(health) - ALWAYS_SCRAPED <= {"loyalty"}

    scraped = set(prometheus_api(shop, "label/__name__/values", **{"match[]": '{job="rabbitmq"}'}))
    assert scraped >= RABBITMQ_METRICS, f"RabbitMQ exports none of {RABBITMQ_METRICS - scraped}"
    consumers = prometheus_api(shop, "query", query='rabbitmq_detailed_queue_consumers{queue="orders"}')
    values = [float(sample["value"][1]) for sample in consumers["result"]]
    assert values and min(values) >= 1, f"the orders queue's consumers, per Prometheus: {values}"
