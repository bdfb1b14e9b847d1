"""The threshold policy: which threshold is in force for a camera's next frame.

A camera starts from the artifact's calibration (statistics of held-out normal scores)
and, in ``threshold.mode: adaptive``, moves toward its own recent normal scores: the
calibration is a warm start worth ``threshold.min_samples`` frames of the camera's own
(seed 000's adaptive threshold, seed 003's mean + k std). An operator's fixed threshold
overrides both. The same ``Level`` gives the camera's normalised score, its own z-score,
which is comparable across cameras whatever their score level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streamproc.config.alerts import AlertsConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.config.threshold import ThresholdConfig
from streamproc.threshold.base import CameraSettings, CameraState, RunningStats

# The running std is floored at this fraction of the calibrated one: a static scene has
# almost no variance and would otherwise alert on its own ordinary frames.
STD_FLOOR = 0.25


@dataclass(frozen=True)
class Calibrated:
    """The artifact's normal-score statistics; ``k`` puts its calibrated threshold at
    mean + k std (a quantile threshold is expressed the same way)."""

    mean: float
    std: float
    k: float
    model_version: str


def calibrated_from_stats(stats: dict[str, Any], version: str) -> Calibrated:
    """From an artifact's calibration statistics (``calibration.json``): the threshold it
    was calibrated to, whether mean + k std or a quantile, as the k that reproduces it."""
    mean, std, thr = float(stats["mean"]), float(stats["std"]), float(stats["threshold"])
    k = (thr - mean) / std if std > 0 else 0.0
    return Calibrated(mean, std, max(k, 0.0), version)


@dataclass(frozen=True)
class Policy:
    threshold: ThresholdConfig
    smoothing: SmoothingConfig
    alerts: AlertsConfig


@dataclass(frozen=True)
class Level:
    """The normal level a camera's score is judged against for one frame."""

    mean: float
    std: float
    threshold: float

    def normalise(self, score: float) -> float:
        """The score as a z-score against the camera's normal level."""
        return (score - self.mean) / self.std if self.std > 0 else 0.0


def warm_start(stats: RunningStats, cal: Calibrated, p: Policy) -> RunningStats:
    """A camera without statistics starts from the calibration, weighted as
    ``min_samples`` of its own normal frames."""
    if stats.count > 0:
        return stats
    return RunningStats(count=p.threshold.min_samples, mean=cal.mean, var=cal.std**2)


def level_for(state: CameraState, settings: CameraSettings, cal: Calibrated, p: Policy) -> Level:
    k = settings.threshold_k if settings.threshold_k is not None else (p.threshold.k or cal.k)
    mean, std = cal.mean, cal.std
    s = state.stats
    if p.threshold.mode == "adaptive" and s.count >= p.threshold.min_samples:
        mean, std = s.mean, max(math.sqrt(max(s.var, 0.0)), STD_FLOOR * cal.std)
    thr = settings.threshold if settings.threshold is not None else mean + k * std
    return Level(mean, std, thr)


def threshold_for(
    state: CameraState, settings: CameraSettings, cal: Calibrated, p: Policy
) -> float:
    return level_for(state, settings, cal, p).threshold
