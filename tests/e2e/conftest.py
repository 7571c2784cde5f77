"""End-to-end fixtures: real service processes (the Procfile commands) in a sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.sandbox import Sandbox
from tests.support.stack import Stack


@pytest.fixture
def stack(sandbox: Sandbox, tmp_path, request) -> Iterator[Stack]:
    """An empty stack; the test starts the processes it needs. Logs shown on failure."""
    running = Stack(sandbox, tmp_path)
    yield running
    running.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(running.logs())


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
