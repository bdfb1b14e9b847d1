"""The per-frame alert decision: smoother, then k-of-n persistence, then hysteresis.

One ``Decider`` per camera turns raw window scores into a ``Decision`` per frame. The
offline evaluator runs the very same object over a whole clip (``series.decide_series``),
so offline numbers describe exactly what the live worker would have alerted on.
"""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass, field

from streamproc.config.smoothing import SmoothingConfig
from streamproc.errors import ConfigError
from streamproc.smoothing.hysteresis import Hysteresis, HysteresisLogic
from streamproc.smoothing.persistence import KOfN, KOfNLogic
from streamproc.smoothing.rolling import Smoother, State, make_smoother, state_value


@dataclass(frozen=True)
class Decision:
    """What the decider concluded for one frame."""

    smoothed: float  # smoother output for this frame
    above: bool  # smoothed >= threshold, after k-of-n persistence
    active: bool  # an anomaly is open (what an alert sink acts on)


@dataclass
class Decider:
    """Stateful per-camera decision logic built from a threshold and a ``SmoothingConfig``.

    ``active`` opens when persistence says ``above`` and stays open while ``above`` holds
    or ``smoothed >= exit_ratio * threshold``. Holding on ``above`` too is deliberate: k-of-n
    remembers earlier frames, so closing while it still says above would reopen on the
    next frame and make the alert chatter.

    Restore after a restart with ``Decider(threshold, cfg, state=old.snapshot())``; to apply
    a recalibrated threshold, build a new decider from the old one's snapshot the same way.
    """

    threshold: float
    smoothing: SmoothingConfig
    state: InitVar[State | None] = None
    _smoother: Smoother = field(init=False, repr=False)
    _persistence: KOfNLogic = field(init=False, repr=False)
    _hysteresis: HysteresisLogic = field(init=False, repr=False)

    def __post_init__(self, state: State | None) -> None:
        # A negative threshold would put exit_ratio * threshold above it (no hysteresis).
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise ConfigError(
                f"decision threshold must be a finite number >= 0, got {self.threshold}; "
                "calibrate the threshold on scores that are non-negative"
            )
        cfg = self.smoothing

        def part(key: str) -> State | None:
            return None if state is None else state_value(state, key, "Decider")

        if state is not None and part("kind") != cfg.kind:
            raise ConfigError(
                f"Decider snapshot was written with smoothing kind {state['kind']!r}, but the "
                f"config says {cfg.kind!r}; start this camera without a snapshot"
            )
        self._smoother = make_smoother(cfg).build(part("smoother"))
        self._persistence = KOfN(cfg.persistence_k, cfg.persistence_n).build(part("persistence"))
        hysteresis = Hysteresis(enter=self.threshold, exit=self.exit_level)
        self._hysteresis = hysteresis.build(part("hysteresis"))

    @property
    def exit_level(self) -> float:
        """Smoothed score below which an open anomaly may close."""
        return self.smoothing.exit_ratio * self.threshold

    def update(self, raw_score: float) -> Decision:
        """Take the next frame's raw score (in stream order) and decide."""
        smoothed = self._smoother.update(raw_score)
        above = self._persistence.update(smoothed >= self.threshold)
        active = self._hysteresis.step(opens=above, holds=above or smoothed >= self.exit_level)
        return Decision(smoothed=smoothed, above=above, active=active)

    def snapshot(self) -> State:
        """JSON-serialisable state; ``Decider(threshold, cfg, state=...)`` resumes from it."""
        return {
            "kind": self.smoothing.kind,
            "smoother": self._smoother.snapshot(),
            "persistence": self._persistence.snapshot(),
            "hysteresis": self._hysteresis.snapshot(),
        }
