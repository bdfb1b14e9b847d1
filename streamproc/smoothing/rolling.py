"""Causal smoothers of a per-frame anomaly score: rolling mean, rolling median, EMA, none.

Each smoother is a frozen spec whose ``build(state)`` returns the stateful logic. The
logic's ``snapshot()`` is plain JSON, so a per-camera stream worker can park it in Redis
and ``build(snapshot)`` after a restart continues with outputs identical to an
uninterrupted run. Causal: the output for frame t uses only scores up to t, which is
what lets the offline evaluator and the live worker make the same decisions.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from streamproc.config.smoothing import SmoothingConfig
from streamproc.errors import ConfigError, DataError

State = dict[str, Any]


class Smoother(Protocol):
    """Stateful logic: one score in, one smoothed score out."""

    def update(self, x: float) -> float: ...

    def snapshot(self) -> State: ...


class SmootherSpec(Protocol):
    """Frozen description of a smoother; ``build`` makes (or restores) its logic."""

    def build(self, state: State | None = None) -> Smoother: ...


def finite(x: float) -> float:
    """``x`` as a float; a NaN/inf would poison every later output of a window, so refuse it."""
    value = float(x)
    if not math.isfinite(value):
        raise DataError(
            f"expected a finite frame score, got {value}; drop or repair the frame first"
        )
    return value


def state_value(state: State, key: str, owner: str) -> Any:
    """``state[key]``, or an error that tells the operator the snapshot is from elsewhere."""
    if key not in state:
        raise ConfigError(
            f"{owner} snapshot needs key {key!r}, got keys {sorted(state)}; it was written by a "
            "differently configured stage: restore with that config or start without a snapshot"
        )
    return state[key]


def _positive_window(window: int) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(f"smoothing window must be an integer >= 1, got {window!r}")


class _WindowLogic:
    """The last ``window`` scores; the snapshot is just those scores, oldest first."""

    def __init__(self, window: int, state: State | None, owner: str) -> None:
        values = [] if state is None else state_value(state, "values", owner)
        # A snapshot from a longer window keeps only the newest scores it still needs.
        self._buf: deque[float] = deque((finite(v) for v in values), maxlen=window)

    def snapshot(self) -> State:
        return {"values": list(self._buf)}


class RollingMeanLogic(_WindowLogic):
    def update(self, x: float) -> float:
        self._buf.append(finite(x))
        # fsum is exact, so the result does not depend on how the window was reached
        # (fresh run or restored snapshot); a running sum would drift between the two.
        return math.fsum(self._buf) / len(self._buf)


class RollingMedianLogic(_WindowLogic):
    def __init__(self, window: int, state: State | None, owner: str) -> None:
        super().__init__(window, state, owner)
        # A sorted copy makes each update O(window) moves instead of a full sort.
        self._sorted = sorted(self._buf)

    def update(self, x: float) -> float:
        value = finite(x)
        if len(self._buf) == self._buf.maxlen:
            del self._sorted[bisect.bisect_left(self._sorted, self._buf[0])]
        self._buf.append(value)
        bisect.insort(self._sorted, value)
        n = len(self._sorted)
        mid = n // 2
        return self._sorted[mid] if n % 2 else (self._sorted[mid - 1] + self._sorted[mid]) / 2


class EmaLogic:
    def __init__(self, alpha: float, state: State | None) -> None:
        self._alpha = alpha
        value = None if state is None else state_value(state, "value", "Ema")
        self._value: float | None = None if value is None else finite(value)

    def update(self, x: float) -> float:
        value = finite(x)
        # The first score seeds the average instead of being pulled towards an arbitrary 0.
        self._value = (
            value
            if self._value is None
            else (self._alpha * value + (1.0 - self._alpha) * self._value)
        )
        return self._value

    def snapshot(self) -> State:
        return {"value": self._value}


class PassThroughLogic:
    def update(self, x: float) -> float:
        return finite(x)

    def snapshot(self) -> State:
        return {}


@dataclass(frozen=True)
class RollingMean:
    """Mean of the last ``window`` scores (fewer while the stream warms up)."""

    window: int

    def __post_init__(self) -> None:
        _positive_window(self.window)

    def build(self, state: State | None = None) -> RollingMeanLogic:
        return RollingMeanLogic(self.window, state, "RollingMean")


@dataclass(frozen=True)
class RollingMedian:
    """Median of the last ``window`` scores (fewer while the stream warms up)."""

    window: int

    def __post_init__(self) -> None:
        _positive_window(self.window)

    def build(self, state: State | None = None) -> RollingMedianLogic:
        return RollingMedianLogic(self.window, state, "RollingMedian")


@dataclass(frozen=True)
class Ema:
    """Exponential moving average; ``alpha`` is the weight of the newest score."""

    alpha: float

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= 1.0:
            raise ConfigError(f"EMA alpha must be in (0, 1], got {self.alpha!r}")

    def build(self, state: State | None = None) -> EmaLogic:
        return EmaLogic(self.alpha, state)


@dataclass(frozen=True)
class NoSmoothing:
    """The raw score, unchanged (still checked to be finite)."""

    def build(self, state: State | None = None) -> PassThroughLogic:
        return PassThroughLogic()


def make_smoother(cfg: SmoothingConfig) -> SmootherSpec:
    """The smoother spec that ``cfg.kind`` names; call ``.build()`` on it for the logic."""
    if cfg.kind == "mean":
        return RollingMean(cfg.window)
    if cfg.kind == "median":
        return RollingMedian(cfg.window)
    if cfg.kind == "ema":
        return Ema(cfg.ema_alpha)
    if cfg.kind == "none":
        return NoSmoothing()
    raise ConfigError(
        f"unknown smoothing kind {cfg.kind!r}; expected one of none, mean, median, ema"
    )
