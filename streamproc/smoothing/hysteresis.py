"""Hysteresis: separate levels to open and to close an anomaly so it does not flicker.

A score hovering around one threshold would toggle the alert state every frame; with
``exit <= enter`` the state opens at ``enter`` and only closes once the score falls
below ``exit``. Same spec/logic/snapshot shape as the smoothers in ``rolling``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streamproc.errors import ConfigError
from streamproc.smoothing.rolling import State, finite, state_value


class HysteresisLogic:
    """The open/closed state; the snapshot is that one flag."""

    def __init__(self, enter: float, exit: float, state: State | None) -> None:
        self._enter = enter
        self._exit = exit
        self._active = False if state is None else bool(state_value(state, "active", "Hysteresis"))

    @property
    def active(self) -> bool:
        return self._active

    def update(self, score: float) -> bool:
        """Open when ``score >= enter``; once open, close when ``score < exit``."""
        value = finite(score)
        return self.step(opens=value >= self._enter, holds=value >= self._exit)

    def step(self, opens: bool, holds: bool) -> bool:
        """The same state machine on precomputed conditions (used by ``Decider``)."""
        self._active = bool(holds) if self._active else bool(opens)
        return self._active

    def snapshot(self) -> State:
        return {"active": self._active}


@dataclass(frozen=True)
class Hysteresis:
    """Enter at ``score >= enter``, leave at ``score < exit``; requires ``exit <= enter``."""

    enter: float
    exit: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.enter) and math.isfinite(self.exit)):
            raise ConfigError(
                f"hysteresis levels must be finite, got enter={self.enter}, exit={self.exit}"
            )
        if self.exit > self.enter:
            raise ConfigError(
                f"hysteresis exit level must be <= enter level, got exit={self.exit} > "
                f"enter={self.enter}; with a higher exit an open anomaly would close at once"
            )

    def build(self, state: State | None = None) -> HysteresisLogic:
        return HysteresisLogic(self.enter, self.exit, state)
