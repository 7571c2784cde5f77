"""The one way figures are summarised: the same percentile in demos, benchmarks and tests."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentiles(samples: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """{"p50": ..., "p95": ..., "p99": ...} rounded to 0.1, interpolated between the two nearest
    samples (`statistics.quantiles(method="inclusive")`, numpy's default). No samples give 0.0,
    so the figures stay valid JSON."""
    if len(samples) < 2:
        value = round(samples[0], 1) if samples else 0.0
        return {f"p{point}": value for point in points}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {f"p{point}": round(cuts[point - 1], 1) for point in points}
