"""Decider: smoother -> k-of-n -> hysteresis on hand-worked sequences, and restarts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamproc.config.smoothing import SmoothingConfig
from streamproc.errors import ConfigError
from streamproc.smoothing import Decider, Decision

T, F = True, False


def cfg(**kw: object) -> SmoothingConfig:
    base: dict[str, object] = {"kind": "none", "persistence_k": 1, "persistence_n": 1}
    return SmoothingConfig.model_validate(base | kw)


def decide(threshold: float, c: SmoothingConfig, xs: list[float]) -> list[Decision]:
    d = Decider(threshold, c)
    return [d.update(x) for x in xs]


def test_hysteresis_keeps_anomaly_open_until_below_exit_ratio() -> None:
    out = decide(1.0, cfg(exit_ratio=0.5), [0.5, 1.2, 0.8, 0.6, 0.4, 1.0])
    assert [o.above for o in out] == [F, T, F, F, F, T]
    assert [o.active for o in out] == [F, T, T, T, F, T]
    assert [o.smoothed for o in out] == [0.5, 1.2, 0.8, 0.6, 0.4, 1.0]


def test_persistence_suppresses_a_lone_spike() -> None:
    out = decide(
        1.0, cfg(persistence_k=2, persistence_n=3, exit_ratio=1.0), [2, 0, 0, 2, 2, 0, 0, 0]
    )
    assert [o.above for o in out] == [F, F, F, F, T, T, F, F]
    assert [o.active for o in out] == [F, F, F, F, T, T, F, F]


def test_open_anomaly_holds_while_persistence_still_says_above() -> None:
    # Frame 2 is far below the exit level, but 2 of the last 3 frames were above, so
    # closing here would only reopen on the next frame; it closes at frame 3 instead.
    out = decide(1.0, cfg(persistence_k=2, persistence_n=3, exit_ratio=0.8), [2, 2, 0, 0, 0])
    assert [o.above for o in out] == [F, T, T, F, F]
    assert [o.active for o in out] == [F, T, T, F, F]


def test_threshold_applies_to_the_smoothed_score() -> None:
    # Raw 1.5 crosses the threshold, but the 2-frame mean (0.75) does not.
    out = decide(1.0, cfg(kind="mean", window=2), [0.0, 1.5, 1.5])
    assert [o.smoothed for o in out] == [0.0, 0.75, 1.5]
    assert [o.active for o in out] == [F, F, T]


@pytest.mark.parametrize("kind", ["none", "mean", "median", "ema"])
def test_restart_from_json_snapshot_gives_identical_decisions(kind: str) -> None:
    c = cfg(kind=kind, window=5, ema_alpha=0.4, persistence_k=3, persistence_n=5, exit_ratio=0.7)
    xs = np.random.default_rng(1).gamma(2.0, 0.5, size=200).tolist()
    expected = decide(1.0, c, xs)
    assert any(o.active for o in expected) and not all(o.active for o in expected)
    for split in (1, 50, 137):
        first = Decider(1.0, c)
        head = [first.update(x) for x in xs[:split]]
        stored = json.loads(json.dumps(first.snapshot()))
        second = Decider(1.0, c, state=stored)
        assert head + [second.update(x) for x in xs[split:]] == expected


def test_snapshot_with_another_smoother_kind_is_refused() -> None:
    snap = Decider(1.0, cfg(kind="ema")).snapshot()
    with pytest.raises(ConfigError, match="'ema'"):
        Decider(1.0, cfg(kind="mean"), state=snap)


def test_negative_threshold_is_refused() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        Decider(-0.5, cfg())


def test_k_larger_than_n_in_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="persistence_k"):
        Decider(1.0, cfg(persistence_k=5, persistence_n=3))
