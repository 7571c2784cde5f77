"""End-to-end tests run the shop's processes (the Procfile commands) in a sandboxed stack
(harness/launcher.py); a test's outcome is kept on its item so fixtures can show logs on failure."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
