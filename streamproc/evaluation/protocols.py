"""The two evaluation protocols over per-frame raw scores.

- ``streaming``: what a live camera does. Each frame's raw score comes from the first
  window that holds it (at most ``stride - 1`` frames of look-ahead, the live latency);
  each test clip is a camera, and its scores go through the worker's own per-camera
  decision code (``alerts.lifecycle.apply_scores``: causal smoothing, the camera's
  threshold warm-started from the calibration and adapting to its own normal scores,
  k-of-n, hysteresis, the incident lifecycle). The reported score is the camera's
  normalised score (its z-score against its own normal level), which is what a
  fleet-wide operating point compares. The same run with ``threshold.mode: calibrated``
  (the training calibration only, no adaptation) is reported beside it as ``fixed``.
- ``offline``: the literature's protocol. Each frame's score is its mean over every
  window that holds it, min-max normalised per whole test clip after seeing the clip,
  then optionally smoothed with a centred moving average. Comparable with papers, not
  achievable live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from streamproc.config.evaluation import EvaluationConfig
from streamproc.config.threshold import ThresholdConfig
from streamproc.evaluation.events import event_report
from streamproc.evaluation.live import LiveRun, run_live
from streamproc.evaluation.metrics import frame_report
from streamproc.smoothing.series import smooth_centered
from streamproc.threshold.policy import Calibrated, Policy

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
    threshold: float  # on the scale of ``scores`` (NaN if not applicable)
    report: dict[str, Any]


def _minmax(x: np.ndarray) -> np.ndarray:
    span = float(x.max() - x.min())
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def _live_report(run: LiveRun, labels: dict[str, np.ndarray], fps: float) -> dict[str, Any]:
    lab = {k: labels[k] for k in run.scores}
    return {**frame_report(run.scores, lab, run.active), **event_report(run.incidents, lab, fps)}


def run_protocol(
    protocol: Protocol,
    raw: dict[str, RawScores],
    labels: dict[str, np.ndarray],
    cal: Calibrated,
    policy: Policy,
    evaluation: EvaluationConfig,
) -> ProtocolResult:
    if protocol == "streaming":
        series = {name: r.streaming for name, r in raw.items()}
        live = run_live(series, cal, policy, evaluation.fps)
        fixed_policy = Policy(
            ThresholdConfig(mode="calibrated", k=policy.threshold.k),
            policy.smoothing,
            policy.alerts,
        )
        fixed = run_live(series, cal, fixed_policy, evaluation.fps)
        report = {
            **_live_report(live, labels, evaluation.fps),
            "threshold_mode": policy.threshold.mode,
            "fixed": _live_report(fixed, labels, evaluation.fps),
        }
        k = policy.threshold.k if policy.threshold.k is not None else cal.k
        return ProtocolResult(protocol, live.scores, live.active, k, report)
    scores: dict[str, np.ndarray] = {}
    decisions: dict[str, np.ndarray] = {}
    threshold = cal.mean + cal.k * cal.std
    for name, r in raw.items():
        centred = smooth_centered(r.offline, evaluation.offline_center_window)
        scores[name] = _minmax(centred)
        # Decisions use the calibrated threshold on the un-normalised score: the per-clip
        # min-max has no threshold a model could have known in advance.
        decisions[name] = centred >= threshold
    report = frame_report(scores, {k: labels[k] for k in scores}, decisions)
    return ProtocolResult(protocol, scores, decisions, float("nan"), dict(report))
