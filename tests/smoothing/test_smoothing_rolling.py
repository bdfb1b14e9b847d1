"""Rolling smoothers: hand-computed outputs, causality and exact snapshot/restore."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamproc.config.smoothing import SmoothingConfig
from streamproc.errors import ConfigError, DataError
from streamproc.smoothing import (
    Ema,
    NoSmoothing,
    RollingMean,
    RollingMedian,
    SmootherSpec,
    make_smoother,
)


def run(spec: SmootherSpec, xs: list[float]) -> list[float]:
    logic = spec.build()
    return [logic.update(x) for x in xs]


def test_rolling_mean_warms_up_then_slides() -> None:
    assert run(RollingMean(3), [1, 2, 3, 4, 10]) == pytest.approx([1, 1.5, 2, 3, 17 / 3])


def test_rolling_median_ignores_a_single_spike() -> None:
    assert run(RollingMedian(3), [5, 1, 3, 100, 2, 0]) == [5, 3, 3, 3, 3, 2]


def test_rolling_median_matches_numpy_on_noisy_data_with_ties() -> None:
    rng = np.random.default_rng(0)
    xs = rng.integers(0, 5, size=300).astype(float).tolist()  # many duplicates
    for window in (1, 2, 4, 7):
        expected = [float(np.median(xs[max(0, t - window + 1) : t + 1])) for t in range(len(xs))]
        assert run(RollingMedian(window), xs) == expected


def test_ema_seeds_with_first_score() -> None:
    assert run(Ema(0.5), [2, 4, 0]) == pytest.approx([2, 3, 1.5])
    assert run(Ema(1.0), [2, 4, 0]) == [2, 4, 0]


def test_no_smoothing_is_identity() -> None:
    assert run(NoSmoothing(), [0.3, -1.0, 7.5]) == [0.3, -1.0, 7.5]


@pytest.mark.parametrize("spec", [RollingMean(4), RollingMedian(4), Ema(0.3)])
def test_outputs_are_causal(spec: SmootherSpec) -> None:
    past = [0.1, 0.9, 0.4, 0.7, 0.2]
    a = run(spec, [*past, 0.0, 0.0])
    b = run(spec, [*past, 50.0, -3.0])
    assert a[: len(past)] == b[: len(past)]
    assert a[len(past)] != b[len(past)]


@pytest.mark.parametrize("spec", [RollingMean(5), RollingMedian(4), Ema(0.37), NoSmoothing()])
@pytest.mark.parametrize("split", [0, 1, 3, 17])
def test_restore_from_json_snapshot_continues_identically(spec: SmootherSpec, split: int) -> None:
    xs = np.random.default_rng(split).random(40).tolist()
    uninterrupted = run(spec, xs)
    first = spec.build()
    head = [first.update(x) for x in xs[:split]]
    stored = json.loads(json.dumps(first.snapshot()))  # what a worker keeps in Redis
    second = spec.build(stored)
    assert head + [second.update(x) for x in xs[split:]] == uninterrupted


def test_snapshot_from_a_longer_window_keeps_the_newest_scores() -> None:
    long = RollingMean(5).build()
    for x in [100, 100, 1, 2, 3]:
        long.update(x)
    short = RollingMean(3).build(long.snapshot())
    assert short.update(4) == pytest.approx(3.0)  # mean of 2, 3, 4


def test_snapshot_of_another_smoother_is_refused() -> None:
    ema = Ema(0.5).build()
    ema.update(1.0)
    with pytest.raises(ConfigError, match="'values'"):
        RollingMean(3).build(ema.snapshot())


@pytest.mark.parametrize(
    "make", [lambda: RollingMean(0), lambda: RollingMedian(-2), lambda: Ema(0.0), lambda: Ema(1.5)]
)
def test_invalid_specs_raise_config_error(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]


def test_non_finite_score_is_refused() -> None:
    logic = RollingMean(3).build()
    with pytest.raises(DataError, match="finite"):
        logic.update(float("nan"))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("mean", RollingMean(7)),
        ("median", RollingMedian(7)),
        ("ema", Ema(0.25)),
        ("none", NoSmoothing()),
    ],
)
def test_make_smoother_follows_config(kind: str, expected: SmootherSpec) -> None:
    cfg = SmoothingConfig.model_validate({"kind": kind, "window": 7, "ema_alpha": 0.25})
    assert make_smoother(cfg) == expected
