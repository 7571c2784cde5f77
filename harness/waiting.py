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
    failure: type[Exception] = AssertionError,
) -> T:
    """Poll until `condition()` is truthy and return it; at the deadline raise `failure`
    (a failed assertion in tests, a readable error in demos) saying what was awaited."""
    poll = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda result: not result),
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
    )
    try:
        return poll(condition)
    except tenacity.RetryError:
        raise failure(f"timed out after {timeout:.0f}s waiting for {what or condition}") from None
