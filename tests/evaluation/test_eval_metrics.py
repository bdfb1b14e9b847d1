"""Frame metrics against values worked out by hand on tiny clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamproc.errors import DataError
from streamproc.evaluation.metrics import (
    clip_aucs,
    eer,
    frame_report,
    macro_auc,
    micro_auc,
    pr_auc,
    roc_points,
    threshold_metrics,
)

# Negatives {0.1, 0.4}, positives {0.35, 0.8}: 3 of the 4 (pos, neg) pairs are ordered right.
SCORES = {"a": np.array([0.1, 0.4]), "b": np.array([0.35, 0.8])}
LABELS = {"a": np.array([0, 0]), "b": np.array([1, 1])}


def test_micro_auc_pools_frames_across_clips() -> None:
    assert micro_auc(SCORES, LABELS) == pytest.approx(0.75)


def test_macro_auc_averages_clips_and_counts_single_class_ones() -> None:
    scores = {
        "perfect": np.array([0.1, 0.9, 0.5, 0.3]),  # AUC 1
        "inverted": np.array([0.6, 0.2, 0.4]),  # AUC 0
        "tied": np.array([0.5, 0.5]),  # AUC 0.5: a tie counts half
        "normal_only": np.array([0.9, 0.1]),  # skipped
    }
    labels = {
        "perfect": np.array([0, 1, 1, 0]),
        "inverted": np.array([0, 1, 1]),
        "tied": np.array([0, 1]),
        "normal_only": np.array([0, 0]),
    }
    mean, skipped = macro_auc(scores, labels)
    assert mean == pytest.approx(0.5)
    assert skipped == 1


def test_eer_is_zero_when_perfectly_separable() -> None:
    assert eer({"c": np.array([0.1, 0.2, 0.8, 0.9])}, {"c": np.array([0, 0, 1, 1])}) == 0.0


def test_eer_at_a_roc_corner() -> None:
    # neg {0,1,2,3}, pos {2.5,4,5,6}: at threshold 3, FPR = 1/4 and miss rate = 1/4.
    s = {"c": np.array([0, 1, 2, 3, 2.5, 4, 5, 6], dtype=float)}
    y = {"c": np.array([0, 0, 0, 0, 1, 1, 1, 1])}
    assert eer(s, y) == pytest.approx(0.25)


def test_eer_interpolates_on_a_tied_segment() -> None:
    # neg {0,1}, pos {1,2}: the ROC runs straight from (0, .5) to (.5, 1) because of the
    # tie at 1; FPR = f and miss rate = .5 - f meet at f = .25.
    s = {"c": np.array([0.0, 1.0, 1.0, 2.0])}
    y = {"c": np.array([0, 0, 1, 1])}
    assert eer(s, y) == pytest.approx(0.25)


def test_pr_auc_is_average_precision() -> None:
    # Ranked: 0.8 (pos, P=1, R=.5), 0.4 (neg), 0.35 (pos, P=2/3, R=1) -> .5*1 + .5*2/3.
    assert pr_auc(SCORES, LABELS) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_roc_points_span_the_unit_square_and_integrate_to_auc() -> None:
    fpr, tpr = roc_points(SCORES, LABELS)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(0.75)


def test_threshold_metrics_from_counts() -> None:
    # tp=2, fn=1, fp=1, tn=4, split over two clips.
    decisions = {"x": np.array([1, 1, 0, 1], dtype=bool), "y": np.zeros(4, dtype=bool)}
    labels = {"x": np.array([1, 1, 1, 0]), "y": np.zeros(4, dtype=int)}
    m = threshold_metrics(decisions, labels)
    assert m == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "false_alarm_rate": 1 / 5}
    )


def test_nothing_flagged_gives_zero_precision_not_an_error() -> None:
    m = threshold_metrics({"x": np.zeros(4, dtype=bool)}, {"x": np.array([0, 1, 1, 0])})
    assert m == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "false_alarm_rate": 0.0}


def test_frame_report_has_every_key_and_is_json_ready() -> None:
    decisions = {"a": np.array([False, True]), "b": np.array([False, True])}
    report = frame_report(SCORES, LABELS, decisions)
    assert set(report) == {
        "micro_auc", "macro_auc", "eer", "pr_auc", "precision", "recall", "f1",
        "false_alarm_rate", "frames", "clips", "macro_skipped_clips", "clip_auc",
    }  # fmt: skip
    assert json.loads(json.dumps(report)) == report
    assert report["frames"] == 4 and report["clips"] == 2
    assert report["micro_auc"] == pytest.approx(0.75)
    # Each clip holds one class only: no macro AUC, but the pooled numbers still stand.
    assert report["macro_auc"] is None and report["macro_skipped_clips"] == 2
    assert report["precision"] == pytest.approx(0.5) and report["recall"] == pytest.approx(0.5)


def test_frame_report_macro_auc_skips_single_class_clips() -> None:
    scores = {"mixed": np.array([0.2, 0.9, 0.1]), "normal": np.array([0.3, 0.4])}
    labels = {"mixed": np.array([0, 1, 1]), "normal": np.array([0, 0])}
    decisions = {"mixed": np.array([False, True, False]), "normal": np.array([False, True])}
    report = frame_report(scores, labels, decisions)
    # mixed clip: pos {0.9, 0.1} vs neg {0.2} -> 1 of 2 pairs ordered right.
    assert report["macro_auc"] == pytest.approx(0.5) and report["macro_skipped_clips"] == 1
    # pooled: pos {0.9, 0.1} vs neg {0.2, 0.3, 0.4} -> 3 of 6 pairs.
    assert report["micro_auc"] == pytest.approx(0.5)
    assert report["false_alarm_rate"] == pytest.approx(1 / 3)


def test_one_class_per_clip_leaves_macro_auc_undefined() -> None:
    with pytest.raises(DataError, match="all 2 clips"):
        macro_auc(SCORES, LABELS)


def test_length_mismatch_names_the_clip() -> None:
    with pytest.raises(DataError, match="clip 'b'"):
        micro_auc({"a": np.zeros(2), "b": np.zeros(3)}, LABELS)


def test_missing_clip_is_reported() -> None:
    with pytest.raises(DataError, match=r"missing from scores: \['b'\]"):
        micro_auc({"a": np.zeros(2)}, LABELS)


def test_single_class_overall_is_a_data_error() -> None:
    labels = {"a": np.zeros(2, dtype=int)}
    with pytest.raises(DataError, match="both normal and anomalous"):
        micro_auc({"a": np.array([0.1, 0.2])}, labels)
    with pytest.raises(DataError, match="both normal and anomalous"):
        threshold_metrics({"a": np.array([True, False])}, labels)


def test_non_binary_labels_and_nan_scores_are_refused() -> None:
    with pytest.raises(DataError, match="0 or 1"):
        micro_auc({"a": np.zeros(2)}, {"a": np.array([0, 2])})
    with pytest.raises(DataError, match="NaN"):
        micro_auc({"a": np.array([np.nan, 1.0])}, {"a": np.array([0, 1])})


def test_clip_aucs_are_each_clips_own_and_none_for_one_class() -> None:
    scores = {"x": np.array([0.1, 0.9, 0.2, 0.8]), "y": np.array([0.9, 0.1, 0.8, 0.2])}
    labels = {"x": np.array([0, 1, 0, 1]), "y": np.array([0, 1, 0, 1])}
    scores["z"], labels["z"] = np.array([0.5, 0.6]), np.array([0, 0])
    assert clip_aucs(scores, labels) == {"x": 1.0, "y": 0.0, "z": None}
    assert frame_report(scores, labels, {k: v > 0.5 for k, v in scores.items()})["clip_auc"] == {
        "x": 1.0, "y": 0.0, "z": None,
    }  # fmt: skip
