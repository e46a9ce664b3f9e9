"""The record-to-balance figures: nearest-rank percentiles, and the goal on p99 alone."""

from __future__ import annotations

from bench.usage_latency import figures, pct


def test_percentiles_are_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert (pct(values, 0.50), pct(values, 0.99), pct([3.0], 0.99)) == (51.0, 100.0, 3.0)


def test_p99_carries_the_goal_and_is_met_under_a_second() -> None:
    fast = figures([0.1] * 99 + [0.9], [0.01] * 10, {})
    slow = figures([0.1] * 98 + [1.5, 1.5], [0.01] * 10, {})
    assert [f.name.rsplit(" ", 1)[1] for f in fast] == ["p50", "p99", "max"]
    assert [f.met for f in fast] == [None, True, None]
    assert [f.met for f in slow] == [None, False, None]
    assert figures([], [0.01], {}) == []
