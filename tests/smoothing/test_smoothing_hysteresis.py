"""Hysteresis: separate enter/exit levels, validation, snapshot/restore."""

from __future__ import annotations

import json

import pytest

from streamproc.errors import ConfigError
from streamproc.smoothing import Hysteresis

T, F = True, False


def test_enters_at_enter_and_leaves_below_exit() -> None:
    logic = Hysteresis(enter=1.0, exit=0.5).build()
    states = [logic.update(s) for s in [0.2, 1.0, 0.7, 0.5, 0.49, 0.9, 1.2]]
    assert states == [F, T, T, T, F, F, T]


def test_equal_levels_behave_like_a_plain_threshold() -> None:
    logic = Hysteresis(enter=0.5, exit=0.5).build()
    scores = [0.1, 0.5, 0.4, 0.6, 0.49]
    assert [logic.update(s) for s in scores] == [s >= 0.5 for s in scores]


def test_exit_above_enter_is_refused_with_both_levels_named() -> None:
    with pytest.raises(ConfigError, match=r"exit=0\.9 > enter=0\.5"):
        Hysteresis(enter=0.5, exit=0.9)


def test_restored_open_state_stays_open_between_levels() -> None:
    spec = Hysteresis(enter=1.0, exit=0.5)
    first = spec.build()
    assert first.update(2.0) is True
    restored = spec.build(json.loads(json.dumps(first.snapshot())))
    assert restored.update(0.7) is True  # a fresh logic would say False here
    assert spec.build().update(0.7) is False
