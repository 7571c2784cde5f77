"""`make bench` at a small scale: the whole run, as a developer starts it, ends with its headline.

`python -m bench.e2e` boots its own stack in a sandbox, runs the bare chain and the shop,
and must report every order terminal and mailed exactly once, in the JSON shape the
issue asks for, with the profile of where the work went.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest

from infra.stack import ROOT

pytestmark = pytest.mark.slow
PERCENTILES = {"p50", "p95", "p99"}


def test_a_small_benchmark_loses_no_order_and_prints_its_headline_last(tmp_path):
    small = [
        "--rate",
        "20",
        "--paced-seconds",
        "2",
        "--flat-seconds",
        "2",
        "--threads",
        "2",
        "--repeats",
        "2",
    ]
    chain = ["--chain-orders", "200", "--drain-timeout", "60"]
    run = subprocess.run(
        [sys.executable, "-m", "bench.e2e", *small, *chain, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr[-4000:]}"

    headline = json.loads(run.stdout.strip().splitlines()[-1])
    assert {
        "orders_per_s",
        "chain_orders_per_s",
        "ratio_to_chain",
        "latency_ms",
        "intake_ms",
        "orders",
        "lost",
    } <= set(headline)
    assert headline["orders"] > 0
    assert headline["lost"] == 0
    assert headline["mailed_once"] == headline["orders"]
    assert headline["orders_per_s"] > 0 and headline["chain_orders_per_s"] > 0
    assert headline["ratio_to_chain"] == pytest.approx(
        headline["orders_per_s"] / headline["chain_orders_per_s"], rel=0.01
    )
    assert set(headline["latency_ms"]) == {"confirmed", "notified"}
    for hop in ("confirmed", "notified"):
        assert set(headline["latency_ms"][hop]) == PERCENTILES
        assert 0 < headline["latency_ms"][hop]["p50"] <= headline["latency_ms"][hop]["p99"]
    assert headline["latency_ms"]["confirmed"]["p50"] <= headline["latency_ms"]["notified"]["p50"]
    assert set(headline["intake_ms"]) == {"p50", "p99"}
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["stack"]["lost"] == 0
    rounds, chain_runs = results["stack"]["flat"]["rounds"], results["chain"]["runs"]
    assert len(rounds) == len(chain_runs) == 2  # chain and shop alternate, medians are reported
    assert headline["orders_per_s"] == pytest.approx(
        statistics.median(r["orders_per_s"] for r in rounds), abs=0.05
    )
    assert headline["chain_orders_per_s"] == pytest.approx(
        statistics.median(r["orders_per_s"] for r in chain_runs), abs=0.05
    )
    profile = results["stack"]["flat"]["per_order"]
    broker = profile["broker_messages"]
    assert broker["enqueued"] > broker["published"] > 0  # events fan out to several queues and the log
    assert broker["acked"] == broker["delivered"]  # every delivery acked once its handler was done
    assert profile["redis_commands"] > 0
    assert profile["log_lines"] == pytest.approx(sum(profile["log_lines_by_process"].values()), abs=0.5)
    assert "orders-consumer" in profile["log_lines_by_process"]  # "order ... is confirmed"
    assert {"rabbitmq", "redis", "orders-api", "payments-worker"} <= set(profile["cpu_ms_by_process"])
    chain_cpu = results["chain"]["cpu_ms_per_order"]  # the chain's own profile, same split
    assert set(chain_cpu) == {"chain", "rabbitmq", "redis"}
    assert chain_cpu["chain"] > 0 and chain_cpu["rabbitmq"] >= 0 and chain_cpu["redis"] >= 0
    assert (tmp_path / "e2e.png").stat().st_size > 0
