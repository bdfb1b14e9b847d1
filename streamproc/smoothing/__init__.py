"""Smoothing stage: raw per-frame scores -> smoothed score -> alert decision.

Small reusable pieces shared by the offline evaluator and the live per-camera worker.
Each piece is a frozen spec whose ``build(state)`` returns stateful logic with
``update(x)`` and a JSON ``snapshot()``; ``build(snapshot)`` resumes it exactly.

- ``rolling``      RollingMean, RollingMedian, Ema, NoSmoothing, ``make_smoother(cfg)``
- ``persistence``  KOfN: an anomaly must persist k of n frames
- ``hysteresis``   Hysteresis: open at one level, close at a lower one
- ``decision``     Decider: the three combined into a per-frame Decision
- ``series``       the same over a whole clip, plus the offline centred average
"""

from streamproc.smoothing.decision import Decider, Decision
from streamproc.smoothing.hysteresis import Hysteresis, HysteresisLogic
from streamproc.smoothing.persistence import KOfN, KOfNLogic
from streamproc.smoothing.rolling import (
    Ema,
    NoSmoothing,
    RollingMean,
    RollingMedian,
    Smoother,
    SmootherSpec,
    State,
    make_smoother,
)
from streamproc.smoothing.series import decide_series, smooth_causal, smooth_centered

__all__ = [
    "Decider",
    "Decision",
    "Ema",
    "Hysteresis",
    "HysteresisLogic",
    "KOfN",
    "KOfNLogic",
    "NoSmoothing",
    "RollingMean",
    "RollingMedian",
    "Smoother",
    "SmootherSpec",
    "State",
    "decide_series",
    "make_smoother",
    "smooth_causal",
    "smooth_centered",
]
