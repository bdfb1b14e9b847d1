"""The per-epoch loop, the objective and one trial, without Ray."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamproc.model.artifact import load_artifact
from streamproc.training.checkpoint import save_checkpoint
from streamproc.training.data import LoadedClip
from streamproc.training.loop import fit
from tests.helpers import tiny_config
from trainers.data import SearchData, load_search_data
from trainers.loop import run_epochs
from trainers.objective import evaluate, objective_value
from trainers.trial import TrialSettings, report_epochs, run_trial


def test_run_epochs_reproduces_fit(search_data: SearchData) -> None:
    cfg = tiny_config(training__epochs=2)
    _, history = fit(cfg, search_data.train)
    ends = list(run_epochs(cfg, search_data.train))
    assert [e.epoch for e in ends] == [1, 2]
    assert ends[-1].progress.history == history  # same steps, same floats


def test_run_epochs_resumes_from_a_checkpoint(search_data: SearchData, tmp_path: Path) -> None:
    cfg = tiny_config(training__epochs=2)
    first = next(iter(run_epochs(cfg, search_data.train)))
    save_checkpoint(tmp_path, first.model, first.optim, first.sched, first.progress)
    resumed = list(run_epochs(cfg, search_data.train, restore=tmp_path))
    straight = list(run_epochs(cfg, search_data.train))
    assert [e.epoch for e in resumed] == [2]
    resumed_h, straight_h = resumed[-1].progress.history, straight[-1].progress.history
    assert resumed_h[0] == straight_h[0]  # restored from the checkpoint
    # As in streamproc's fit, the RNG state (dropout, augmentation) is not checkpointed,
    # so the resumed epoch is close to, not identical with, the uninterrupted one.
    assert resumed_h[1]["loss"] == pytest.approx(straight_h[1]["loss"], rel=0.05)


def test_report_epochs_follow_asha_rungs() -> None:
    assert report_epochs(12, 1, 2) == {1, 2, 4, 8, 12}
    assert report_epochs(12, 3, 3) == {3, 9, 12}
    assert report_epochs(1, 1, 2) == {1}
    assert report_epochs(4, 4, 2) == {4}


def test_objective_value() -> None:
    m = {"micro_auc": 0.9, "f1": 0.5, "normal_mse": 0.01}
    assert objective_value("auc", m) == 0.9
    assert objective_value("auc", m, f1_weight=0.5) == pytest.approx(0.7)
    assert objective_value("label-free", m) == pytest.approx(0.89)


def test_evaluate_scores_labelled_clips(small_artifact: Path, search_data: SearchData) -> None:
    m = evaluate(load_artifact(small_artifact), search_data.validation)
    assert 0 <= m["micro_auc"] <= 1 and 0 <= m["f1"] <= 1
    assert m["normal_mse"] > 0 and m["frames"] == 40
    with pytest.raises(ValueError, match="no labels"):
        evaluate(load_artifact(small_artifact), [LoadedClip("x", np.zeros((8, 2, 32, 48)))])


def test_trial_reports_at_rungs_with_loadable_artifacts(search_data: SearchData) -> None:
    reports: list[dict[str, Any]] = []

    def report(metrics: dict[str, Any], artifact_dir: Path) -> None:
        art = load_artifact(artifact_dir)
        reports.append({**metrics, "meta": art.metadata, "k": art.config.scoring.threshold_k})

    settings = TrialSettings.from_config(tiny_config(training__epochs=2))
    sample = {"scoring.threshold_k": 2.5, "smoothing.window": 5}
    run_trial(sample, search_data.without_test(), settings, report, "t1")
    assert [r["epoch"] for r in reports] == [1, 2]
    last = reports[-1]
    assert last["objective"] == last["val_micro_auc"] and last["cpu_s"] > 0
    assert last["k"] == 2.5 and last["meta"]["search"]["sample"] == sample
    assert last["meta"]["search"]["validation_clips"] == ["00"]
    assert last["meta"]["training"]["calibration_clips"] == search_data.split()["calibration"]


def test_label_free_trial(synthetic_dataset: Path) -> None:
    cfg = tiny_config(training__epochs=1)
    data = load_search_data(synthetic_dataset, cfg.data, 0.3, 0, "label-free")
    reports: list[dict[str, Any]] = []
    run_trial({}, data, TrialSettings.from_config(cfg), lambda m, _: reports.append(m))
    (r,) = reports
    assert r["objective"] == pytest.approx(r["val_micro_auc"] - r["val_normal_mse"])
