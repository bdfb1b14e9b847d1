"""Clips replayed as cameras through the stream worker's own decision code.

Each clip's per-frame raw scores are applied to a fresh camera state by
``alerts.lifecycle.apply_scores``, exactly as a worker applies a camera's windows (the
frames of consecutive windows are applied once each, in order, so feeding the whole
clip at once decides the same frames the same way). Each clip is a fresh camera start
(a new stream, one capture segment), so its first ``alerts.warmup_frames`` frames decide
nothing, as after a live camera's start. What it publishes is collected:
the normalised score and the active flag of every frame, and the alert incidents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamproc.alerts.lifecycle import ScoredWindow, apply_scores
from streamproc.evaluation.events import Incident, incidents
from streamproc.threshold.base import CameraSettings
from streamproc.threshold.policy import Calibrated, Policy


@dataclass
class LiveRun:
    scores: dict[str, np.ndarray]  # clip -> normalised score per frame
    smoothed: dict[str, np.ndarray]  # clip -> smoothed raw score per frame
    active: dict[str, np.ndarray]  # clip -> bool per frame
    incidents: list[Incident]


def run_live(series: dict[str, np.ndarray], cal: Calibrated, policy: Policy, fps: float) -> LiveRun:
    """Every clip as its own camera (id = clip name), capture times ``frame / fps``."""
    out = LiveRun({}, {}, {}, [])
    alerts = []
    for clip, raw in series.items():
        values = [float(v) for v in np.asarray(raw, dtype=np.float64)]
        times = [i / fps for i in range(len(values))]
        window = ScoredWindow(clip, 0, values, times, stream="eval")
        state = apply_scores(None, window, CameraSettings(), cal, policy)
        published = [m["payload"] for m in state.outbox if m["topic"] == "scores"]
        out.scores[clip] = np.array([m["normalized"] for m in published])
        out.smoothed[clip] = np.array([m["smoothed"] for m in published])
        out.active[clip] = np.array([m["active"] for m in published], dtype=bool)
        alerts += [m["payload"] for m in state.outbox if m["topic"] == "alerts"]
    out.incidents = incidents(alerts, {c: c for c in series})
    return out
