"""RunningStats (threshold/base.py): exact while young, then an exponentially weighted
mean and variance that follow the stream with the configured halflife."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from streamproc.threshold.base import RunningStats


def feed(stats: RunningStats, xs: list[float], halflife: float) -> RunningStats:
    for x in xs:
        stats.update(x, halflife)
    return stats


def test_first_update_takes_the_sample() -> None:
    stats = feed(RunningStats(), [3.5], halflife=10)
    assert (stats.count, stats.mean, stats.var) == (1, 3.5, 0.0)


def test_with_a_long_halflife_it_is_the_exact_mean_and_population_variance() -> None:
    # alpha = 1 / (n + 1) while that exceeds the halflife's weight: a plain running mean.
    rng = random.Random(0)
    xs = [rng.gauss(3, 2) for _ in range(300)]
    stats = feed(RunningStats(), xs, halflife=1e9)
    assert stats.count == 300
    assert stats.mean == pytest.approx(statistics.fmean(xs), rel=1e-9)
    assert stats.var == pytest.approx(statistics.pvariance(xs), rel=1e-9)


def test_converges_to_the_mean_and_std_of_a_stationary_stream() -> None:
    rng = random.Random(1)
    stats = feed(RunningStats(), [rng.gauss(5, 2) for _ in range(5000)], halflife=200)
    assert stats.mean == pytest.approx(5, abs=0.3)
    assert math.sqrt(stats.var) == pytest.approx(2, abs=0.3)


def test_forgets_an_old_level_with_the_given_halflife() -> None:
    halflife = 10
    stats = feed(RunningStats(), [0.0] * 1000, halflife)
    # Once old, each sample has weight 1 - 0.5 ** (1 / halflife): after one halflife at a
    # new level the mean has moved exactly half way there.
    feed(stats, [8.0] * halflife, halflife)
    assert stats.mean == pytest.approx(4.0, rel=1e-9)
    feed(stats, [8.0] * halflife, halflife)
    assert stats.mean == pytest.approx(6.0, rel=1e-9)


def test_a_constant_stream_has_zero_variance() -> None:
    stats = feed(RunningStats(), [2.0] * 500, halflife=20)
    assert stats.mean == pytest.approx(2.0)
    assert stats.var == pytest.approx(0.0, abs=1e-12)
    assert stats.var >= 0


def test_round_trips_through_json_exactly() -> None:
    rng = random.Random(2)
    stats = feed(RunningStats(), [rng.random() for _ in range(50)], halflife=5)
    assert RunningStats.model_validate_json(stats.model_dump_json()) == stats
