"""Whole-array helpers: centred average, causal smoothing, and agreement with live."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamproc.config.smoothing import SmoothingConfig
from streamproc.errors import DataError
from streamproc.smoothing import Decider, decide_series, smooth_causal, smooth_centered


def test_centered_average_of_a_step() -> None:
    step = np.array([0.0] * 5 + [1.0] * 5)
    out = smooth_centered(step, 3)
    assert out.shape == step.shape
    np.testing.assert_allclose(out, [0, 0, 0, 0, 1 / 3, 2 / 3, 1, 1, 1, 1])


def test_centered_edges_average_only_existing_frames() -> None:
    np.testing.assert_allclose(smooth_centered([1, 2, 3, 4, 5], 3), [1.5, 2, 3, 4, 4.5])
    np.testing.assert_allclose(smooth_centered([1, 2, 3], 9), [2, 2, 2])


def test_centered_even_width_leans_to_the_past() -> None:
    np.testing.assert_allclose(smooth_centered(np.arange(6.0), 4), [0.5, 1, 1.5, 2.5, 3.5, 4])


def test_centered_width_one_and_empty_input() -> None:
    x = np.array([3.0, -1.0, 2.0])
    np.testing.assert_array_equal(smooth_centered(x, 1), x)
    assert smooth_centered(np.array([]), 5).shape == (0,)


def test_causal_mean_matches_a_numpy_reference() -> None:
    x = np.random.default_rng(2).random(50)
    ref = [x[max(0, t - 3) : t + 1].mean() for t in range(x.size)]
    np.testing.assert_allclose(
        smooth_causal(x, SmoothingConfig.model_validate({"kind": "mean", "window": 4})), ref
    )


def test_causal_median_ignores_spike_that_centered_mean_spreads() -> None:
    x = np.zeros(9)
    x[4] = 9.0
    np.testing.assert_array_equal(
        smooth_causal(x, SmoothingConfig.model_validate({"kind": "median", "window": 3})), 0
    )
    assert smooth_centered(x, 3)[3] == pytest.approx(3.0)


@pytest.mark.parametrize("kind", ["none", "mean", "median", "ema"])
def test_series_and_live_decisions_agree_exactly_across_a_restart(kind: str) -> None:
    c = SmoothingConfig.model_validate(
        {"kind": kind, "window": 7, "persistence_k": 3, "persistence_n": 4, "exit_ratio": 0.6}
    )
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, 0.5, size=300)
    x[100:140] += 2.0  # an anomaly, so both states occur
    offline = decide_series(x, 1.5, c)
    assert offline.dtype == bool and offline.shape == x.shape
    assert offline[110:140].all() and not offline.all()

    live, decider = [], Decider(1.5, c)
    for t, score in enumerate(x.tolist()):
        if t == 120:  # the worker restarts mid-anomaly from its stored snapshot
            decider = Decider(1.5, c, state=json.loads(json.dumps(decider.snapshot())))
        live.append(decider.update(score).active)
    np.testing.assert_array_equal(offline, live)


def test_bad_series_input_is_data_error() -> None:
    with pytest.raises(DataError, match="1-D"):
        smooth_centered(np.zeros((2, 3)), 3)
    with pytest.raises(DataError, match="frame 1"):
        decide_series([0.1, float("nan")], 1.0, SmoothingConfig.model_validate({}))
