"""The two evaluation protocols over per-frame raw scores.

- ``streaming``: what a live camera can do. Each frame's raw score comes from the first
  window that holds it (at most ``stride - 1`` frames of look-ahead, the live latency),
  smoothing is causal, and the only normalisation is the training-time calibration.
  Decisions run the same Decider a stream worker runs (smoothing, k-of-n, hysteresis).
- ``offline``: the literature's protocol. Each frame's score is its mean over every
  window that holds it, min-max normalised per whole test clip after seeing the clip,
  then optionally smoothed with a centred moving average. Comparable with papers, not
  achievable live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from streamproc.config.evaluation import EvaluationConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.evaluation.metrics import frame_report
from streamproc.smoothing.series import decide_series, smooth_causal, smooth_centered

Protocol = Literal["streaming", "offline"]
PROTOCOLS: tuple[Protocol, ...] = ("streaming", "offline")


@dataclass
class RawScores:
    """One clip's raw frame scores in both assignments (see ``model.clip.ClipScores``)."""

    streaming: np.ndarray
    offline: np.ndarray


@dataclass
class ProtocolResult:
    protocol: Protocol
    scores: dict[str, np.ndarray]  # the scores the AUCs are computed from
    decisions: dict[str, np.ndarray]  # per-frame alert state
    threshold: float  # on the scale of ``scores`` (None-like NaN if not applicable)
    report: dict[str, float | int | None]


def _minmax(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min())
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def run_protocol(
    protocol: Protocol,
    raw: dict[str, RawScores],
    labels: dict[str, np.ndarray],
    threshold: float,
    smoothing: SmoothingConfig,
    evaluation: EvaluationConfig,
) -> ProtocolResult:
    scores: dict[str, np.ndarray] = {}
    decisions: dict[str, np.ndarray] = {}
    shown_threshold = threshold
    for name, r in raw.items():
        if protocol == "streaming":
            scores[name] = smooth_causal(r.streaming, smoothing)
            decisions[name] = decide_series(r.streaming, threshold, smoothing)
        else:
            centred = smooth_centered(r.offline, evaluation.offline_center_window)
            scores[name] = _minmax(centred)
            # Decisions use the calibrated threshold on the un-normalised score: the
            # per-clip min-max has no threshold a model could have known in advance.
            decisions[name] = centred >= threshold
            shown_threshold = float("nan")
    report = frame_report(scores, {k: labels[k] for k in scores}, decisions)
    return ProtocolResult(protocol, scores, decisions, shown_threshold, report)
