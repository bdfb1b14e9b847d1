"""Frame-level anomaly detection metrics over a set of clips (scikit-learn underneath).

Inputs are per-clip dicts keyed by clip name: ``scores`` (higher = more anomalous),
``labels`` (0 normal / 1 anomalous per frame) and ``decisions`` (bool per frame). Micro
metrics pool every frame of every clip; macro AUC averages per-clip AUCs, the number the
UCSD/Avenue literature sometimes reports instead. Bad input raises ``DataError`` naming
the clip, because a silently misaligned clip would quietly shift every number.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score, roc_curve

from streamproc.errors import DataError

FloatArray = npt.NDArray[np.float64]
Clips = Mapping[str, npt.ArrayLike]


def _clip_arrays(
    values: Clips, labels: Clips, what: str, binary: bool = False
) -> list[tuple[str, npt.NDArray[Any], npt.NDArray[np.int64]]]:
    """``(name, values, labels)`` per clip, checked for matching clips, lengths and 0/1 labels."""
    if set(values) != set(labels):
        missing = sorted(set(labels) - set(values))
        extra = sorted(set(values) - set(labels))
        raise DataError(
            f"{what} and labels must cover the same clips; "
            f"missing from {what}: {missing}, without labels: {extra}"
        )
    out = []
    for name in labels:
        v = np.asarray(values[name])
        y = np.asarray(labels[name])
        if v.ndim != 1 or y.ndim != 1 or v.shape != y.shape:
            raise DataError(
                f"clip {name!r}: expected 1-D {what} and labels of equal length, "
                f"got {what} shape {v.shape} and labels shape {y.shape}"
            )
        if not np.all(np.isin(y, (0, 1))):
            raise DataError(f"clip {name!r}: labels must be 0 or 1, got values {np.unique(y)}")
        if binary and not np.all(np.isin(v, (0, 1))):
            raise DataError(f"clip {name!r}: {what} must be bool or 0/1, got {np.unique(v)[:5]}")
        if not binary and not np.all(np.isfinite(v.astype(np.float64))):
            raise DataError(f"clip {name!r}: {what} contain NaN or infinite values")
        out.append((name, v, y.astype(np.int64)))
    return out


def _pooled(
    values: Clips, labels: Clips, what: str, binary: bool = False
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    clips = _clip_arrays(values, labels, what, binary)
    if not clips or sum(len(y) for _, _, y in clips) == 0:
        raise DataError("no frames to evaluate: every clip is empty or no clips were given")
    v = np.concatenate([c[1] for c in clips])
    y = np.concatenate([c[2] for c in clips])
    if np.unique(y).size < 2:
        raise DataError(
            f"metrics need both normal and anomalous frames, but all {y.size} frames are "
            f"labelled {int(y[0])}; evaluate on a set that contains both classes"
        )
    return v, y


def micro_auc(scores: Clips, labels: Clips) -> float:
    """ROC AUC with all frames of all clips pooled."""
    s, y = _pooled(scores, labels, "scores")
    return float(roc_auc_score(y, s))


def clip_aucs(scores: Clips, labels: Clips) -> dict[str, float | None]:
    """Each clip's own ROC AUC; None for a clip with a single class (no AUC exists)."""
    return {
        name: float(roc_auc_score(y, s)) if np.unique(y).size == 2 else None
        for name, s, y in _clip_arrays(scores, labels, "scores")
    }


def _macro(scores: Clips, labels: Clips) -> tuple[float | None, int]:
    per_clip = clip_aucs(scores, labels)
    aucs = [a for a in per_clip.values() if a is not None]
    return (float(np.mean(aucs)) if aucs else None), len(per_clip) - len(aucs)


def macro_auc(scores: Clips, labels: Clips) -> tuple[float, int]:
    """Mean per-clip ROC AUC and the number of clips skipped for having only one class."""
    mean, skipped = _macro(scores, labels)
    if mean is None:
        raise DataError(
            f"macro AUC needs at least one clip with both normal and anomalous frames; "
            f"all {skipped} clips have a single class"
        )
    return mean, skipped


def roc_points(scores: Clips, labels: Clips) -> tuple[FloatArray, FloatArray]:
    """Pooled ROC curve as ``(fpr, tpr)``, both starting at 0 and ending at 1."""
    s, y = _pooled(scores, labels, "scores")
    fpr, tpr, _ = roc_curve(y, s)
    return fpr.astype(np.float64), tpr.astype(np.float64)


def eer(scores: Clips, labels: Clips) -> float:
    """Equal error rate of the pooled ROC: where false-positive and miss rates cross.

    The ROC is linear between its points, so the crossing is interpolated on that segment
    rather than snapped to the nearest threshold.
    """
    fpr, tpr = roc_points(scores, labels)
    gap = (1.0 - tpr) - fpr  # miss rate minus false-positive rate; falls from 1 to -1
    i = int(np.argmax(gap <= 0))
    if gap[i] == 0 or i == 0:
        return float(fpr[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def pr_auc(scores: Clips, labels: Clips) -> float:
    """Average precision (area under the precision-recall curve), pooled."""
    s, y = _pooled(scores, labels, "scores")
    return float(average_precision_score(y, s))


def threshold_metrics(decisions: Clips, labels: Clips) -> dict[str, float]:
    """Pooled precision, recall, F1 and false-alarm rate (FP / negative frames).

    Precision (and so F1) is 0 when nothing was flagged, as in scikit-learn's
    ``zero_division=0``.
    """
    d, y = _pooled(decisions, labels, "decisions", binary=True)
    tn, fp, fn, tp = (
        int(c) for c in confusion_matrix(y, d.astype(np.int64), labels=[0, 1]).ravel()
    )
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_alarm_rate": fp / (fp + tn),
    }


def frame_report(
    scores: Clips, labels: Clips, decisions: Clips
) -> dict[str, float | int | dict[str, float | None] | None]:
    """Every frame-level number of one evaluation run, JSON-ready.

    ``macro_auc`` is None (not an error) when no clip has both classes, because the
    pooled numbers are still meaningful for such a set.
    """
    macro, skipped = _macro(scores, labels)
    return {
        "micro_auc": micro_auc(scores, labels),
        "macro_auc": macro,
        "clip_auc": clip_aucs(scores, labels),
        "eer": eer(scores, labels),
        "pr_auc": pr_auc(scores, labels),
        **threshold_metrics(decisions, labels),
        "frames": int(sum(np.asarray(y).size for y in labels.values())),
        "clips": len(labels),
        "macro_skipped_clips": skipped,
    }
