"""`make soak` for a minute: the whole run as a developer starts it, with its summary, its plot
and a verdict it can exit on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from infra.stack import ROOT

pytestmark = pytest.mark.slow


def test_a_short_soak_samples_every_process_and_judges_memory_and_latency(tmp_path):
    short = ["--minutes", "1", "--rate", "10", "--sample-seconds", "2", "--drain-timeout", "60"]
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", *short, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    verdict = json.loads(run.stdout.strip().splitlines()[-1])
    assert verdict == summary["verdict"]
    assert run.returncode == (0 if verdict["ok"] else 1)
    assert "[soak]" in run.stderr  # progress
    assert summary["orders"] >= 500 and summary["lost"] == 0
    processes = summary["memory"]["by_process"]
    assert {"orders-api", "payments-worker", "notifications-consumer", "rabbitmq", "redis"} <= set(processes)
    assert all(p["rss_mib_last"] > 0 for p in processes.values())
    assert summary["memory"]["total_rss_mib"]["max"] >= sum(p["rss_mib_last"] for p in processes.values()) - 1
    assert summary["cpu_ms_per_order"]["orders-api"] > 0
    assert summary["latency_ms"]["windows"] and summary["latency_ms"]["first_third"]["p50"] > 0
    assert len(summary["series"]["at_s"]) >= 25  # a sample every 2 s for a minute
    assert (tmp_path / "soak.png").stat().st_size > 0
