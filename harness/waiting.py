"""Wait on a condition with a deadline instead of sleeping and hoping (tenacity polls)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "",
    failure: type[Exception] | None = AssertionError,
) -> T:
    """Poll until `condition()` is truthy and return it; at the deadline raise `failure`
    (a failed assertion in tests, a readable error in demos) saying what was awaited, or,
    with `failure=None`, return the last answer: for a measurement a timeout is a figure
    (orders still pending), not an error."""
    poll = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda result: not result),
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    result = poll(condition)
    if not result and failure is not None:
        raise failure(f"timed out after {timeout:.0f}s waiting for {what or condition}")
    return result
