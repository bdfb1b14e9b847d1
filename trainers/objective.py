"""The number a search maximises, computed from an artifact and labelled clips.

Frame scores follow the *streaming* protocol (each frame scored by the first window
that holds it, causal smoothing, the artifact's calibrated threshold): what a deployed
camera gets, so the search tunes what runs live, smoothing window included.

- ``auc`` (a labelled validation split; used when ``DIR/test_labels.json`` exists):
  objective = (1 - f1_weight) * micro AUC + f1_weight * F1. AUC is threshold-free, so
  with the default ``f1_weight = 0`` threshold k and the k-of-n decision only change
  the reported F1; a positive weight also tunes the alerting operating point.
- ``label-free`` (a camera without labels): objective = AUC of telling the synthetic
  anomalies of ``data.inject_anomaly`` from the held-out normal frames around them,
  minus the mean reconstruction MSE of those normal frames. The AUC carries the
  ranking; the MSE (around 1e-3 on [0, 1] pixels) breaks near-ties in favour of the
  model that reconstructs normal footage best. It rewards separating *a* kind of
  anomaly, so it is a proxy: prefer a labelled split whenever one exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamproc.evaluation.protocols import RawScores, run_protocol
from streamproc.evaluation.runner import eval_policy
from streamproc.model.artifact import Artifact
from streamproc.model.clip import score_clip
from streamproc.threshold.policy import calibrated_from_stats
from streamproc.training.data import LoadedClip
from streamproc.windowing.windows import first_cover
from trainers.data import ObjectiveKind

REPORTED = ("micro_auc", "macro_auc", "eer", "pr_auc", "precision", "recall", "f1")


def evaluate(art: Artifact, clips: list[LoadedClip], batch: int = 32) -> dict[str, Any]:
    """Streaming-protocol metrics of ``art`` on labelled clips, plus ``normal_mse``: the
    mean reconstruction error of the frames labelled normal."""
    cfg = art.config
    scorer = art.scorer(next(art.model.parameters()).device)
    raw: dict[str, RawScores] = {}
    labels: dict[str, np.ndarray] = {}
    normal_err: list[np.ndarray] = []
    for clip in clips:
        if clip.labels is None:
            raise ValueError(f"clip {clip.name!r} has no labels")
        cs = score_clip(scorer, clip.frames, cfg.data.window, batch, clip.name)
        raw[clip.name] = RawScores(cs.streaming(), cs.offline())
        labels[clip.name] = clip.labels
        err = cs.window_mean_error[_first_cover_rows(cs.n_frames, cs.starts, cs.length)]
        normal_err.append(err[clip.labels == 0])
    cal = calibrated_from_stats(art.stats, art.version)
    result = run_protocol("streaming", raw, labels, cal, eval_policy(cfg), cfg.evaluation)
    out: dict[str, Any] = {k: result.report.get(k) for k in REPORTED}
    normal = np.concatenate(normal_err)
    out["normal_mse"] = float(normal.mean()) if normal.size else float("nan")
    out["frames"] = int(sum(len(c.frames) for c in clips))
    return out


def _first_cover_rows(n: int, starts: list[int], length: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pair selecting each frame's value from its first covering window."""
    owner = first_cover(n, starts, length)
    return owner, np.arange(n) - np.asarray(starts)[owner]


def objective_value(kind: ObjectiveKind, metrics: dict[str, Any], f1_weight: float = 0.0) -> float:
    auc = float(metrics["micro_auc"])
    if kind == "label-free":
        return auc - float(metrics["normal_mse"])
    return (1.0 - f1_weight) * auc + f1_weight * float(metrics["f1"])
