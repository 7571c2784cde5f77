"""The three demos in compose mode, at small scale, as `make demo-...` against the containers.

The figures are held to the same bars as in local mode (tests/e2e/test_demos.py), with the
margins of a shared 2-core machine running a dozen containers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import requests

from tests.support.composestack import ComposeStack


def run_demo(shop: ComposeStack, target: str, args: str, timeout: float) -> dict:
    """`make <target> DEMO_ARGS=...`: its last stdout line is the JSON figures, and its plot exists."""
    try:
        result = shop.make(target, f"DEMO_ARGS={args}", timeout=timeout)
    except (AssertionError, subprocess.TimeoutExpired):
        print(shop.logs())
        raise
    print(result.stdout, result.stderr)
    assert list((Path(shop.env["ARTIFACTS_DIR"]) / target).glob("*.png")), f"{target} saved no plot"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_subscriber_joins_the_running_containers_and_counts_each_order_once(shop: ComposeStack):
    figures = run_demo(shop, "demo-subscriber", "--before 10 --during 5 --live 5 --customers 3", 180)

    assert figures["orders_counted_twice"] == 0
    assert figures["orders_missed"] == 0
    assert figures["customers"] == figures["expected_points"]
    assert figures["backfilled_events"] >= 10
    assert figures["live_events"] >= 5
    assert figures["orders_untouched"]["processes_restarted"] == []
    assert shop.containers("loyalty-consumer"), "loyalty runs in its own containers"


def test_payments_containers_stopped_under_load_lose_nothing(shop: ComposeStack):
    figures = run_demo(shop, "demo-failure", "--rate 10 --warmup 2 --before 4 --outage 5", 240)

    assert figures["intake_success_rate"] == 1.0
    assert figures["pending_during"] > 0
    assert figures["intake_p50_ms_during"] <= 2 * figures["intake_p50_ms_before"] + 10
    assert figures["lost"] == 0
    assert figures["double_charges"] == 0
    assert figures["duplicate_emails"] == 0
    assert figures["missing_emails"] == 0
    assert figures["coupled"]["lost"] > 0


def test_more_worker_containers_drain_the_email_backlog_faster(shop: ComposeStack):
    figures = run_demo(shop, "demo-scale", "--steps 1,2 --delay-ms 200 --window 3", 240)

    rates = figures["rates_per_replicas"]
    assert 0 < rates["1"] < rates["2"]
    assert figures["starved_steps"] == []
    operator = {"Authorization": f"Bearer {shop.secrets['OPERATOR_TOKEN']}"}
    settings = requests.get(
        shop.url("NOTIFICATIONS_PORT") + "/api/settings", headers=operator, timeout=5
    ).json()
    assert settings["notify_delay_ms"] == 0, "the demo puts the delay back"
