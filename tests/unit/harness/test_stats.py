from __future__ import annotations

from harness.stats import percentiles


def test_percentiles_interpolate_between_the_two_nearest_samples():
    assert percentiles([10, 20, 30, 40, 50], (50, 99)) == {"p50": 30, "p99": 49.6}


def test_the_default_points_are_p50_p95_p99():
    assert set(percentiles(list(range(1000)))) == {"p50", "p95", "p99"}


def test_one_sample_is_every_percentile_and_none_gives_zero():
    assert percentiles([7.25]) == {"p50": 7.2, "p95": 7.2, "p99": 7.2}
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0}
