"""Trains briefly on a Ped2 subset and checks the streaming AUC clears a floor that the
same network, untrained but calibrated the same way, does not reach."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from streamproc.config import StreamprocConfig, apply_overrides
from streamproc.evaluation.runner import report_for, score_dataset
from streamproc.model.artifact import Artifact
from streamproc.model.calibration import calibrate
from streamproc.model.registry import build_model
from streamproc.training import train
from streamproc.training.data import load_training_data

FLOOR = 0.75
TRAIN_CLIPS = ["01", "02", "03", "04", "05", "06"]
TEST_CLIPS = ["02", "04", "05"]


def subset(ped2: Path, root: Path) -> Path:
    for c in TRAIN_CLIPS:
        (root / "train").mkdir(parents=True, exist_ok=True)
        (root / "train" / c).symlink_to(ped2 / "train" / c)
    labels = json.loads((ped2 / "test_labels.json").read_text())
    for c in TEST_CLIPS:
        (root / "test").mkdir(parents=True, exist_ok=True)
        (root / "test" / c).symlink_to(ped2 / "test" / c)
    (root / "test_labels.json").write_text(json.dumps({c: labels[c] for c in TEST_CLIPS}))
    return root


@pytest.mark.ped2
@pytest.mark.slow
def test_brief_training_beats_untrained(ped2: Path, tmp_path: Path) -> None:
    data = subset(ped2, tmp_path / "ped2")
    cfg = apply_overrides(
        StreamprocConfig(),
        {
            "training.epochs": 3,
            "training.max_windows": 160,
            "training.holdout_fraction": 0.2,
        },
    )
    trained = train(cfg, data, tmp_path / "art").artifact
    rep, _ = report_for(score_dataset(trained, data, 16), "streaming", trained.threshold, cfg, {})

    torch.manual_seed(cfg.training.seed)
    untrained_model = build_model(cfg.model, cfg.data)
    _, holdout = load_training_data(data, cfg.data, 0.2, cfg.training.seed)
    cal, stats = calibrate(
        untrained_model,
        [c.frames for c in holdout],
        cfg.data.window,
        cfg.scoring,
        appearance_channels=cfg.data.preprocess.appearance_channels,
    )
    untrained = Artifact(cfg, untrained_model, cal, stats)
    urep, _ = report_for(
        score_dataset(untrained, data, 16), "streaming", untrained.threshold, cfg, {}
    )

    print(f"streaming micro AUC: trained {rep['micro_auc']:.4f}, untrained {urep['micro_auc']:.4f}")
    assert np.isfinite(rep["micro_auc"])
    assert urep["micro_auc"] < FLOOR <= rep["micro_auc"]
