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
from streamproc.sources.dataset import open_split
from streamproc.threshold.policy import calibrated_from_stats
from streamproc.training import train
from streamproc.training.data import load_training_data

FLOOR = 0.75
PED1_MARGIN = 0.05
TRAIN_CLIPS = ["01", "02", "03", "04", "05", "06"]
TEST_CLIPS = ["02", "04", "05"]


def subset(source: Path, root: Path) -> Path:
    """A few clips of a dataset (frame folders or videos) linked into ``root``."""
    for split, names in (("train", TRAIN_CLIPS), ("test", TEST_CLIPS)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for clip in open_split(source, split):
            if clip.name in names:
                (root / split / clip.path.name).symlink_to(clip.path)
    labels = json.loads((source / "test_labels.json").read_text())
    (root / "test_labels.json").write_text(json.dumps({c: labels[c] for c in TEST_CLIPS}))
    return root


def brief_vs_untrained(source: Path, tmp_path: Path) -> tuple[float, float]:
    """Streaming micro AUC of a briefly trained model and of the same network untrained,
    calibrated the same way, on a subset of ``source``."""
    data = subset(source, tmp_path / "data")
    cfg = apply_overrides(
        StreamprocConfig(),
        {
            "training.epochs": 3,
            "training.max_windows": 160,
            "training.holdout_fraction": 0.2,
        },
    )
    trained = train(cfg, data, tmp_path / "art").artifact
    cal = calibrated_from_stats(trained.stats, trained.version)
    rep, _ = report_for(score_dataset(trained, data, 16), "streaming", cal, cfg, {})

    torch.manual_seed(cfg.training.seed)
    untrained_model = build_model(cfg.model, cfg.data)
    _, holdout = load_training_data(data, cfg.data, 0.2, cfg.training.seed)
    ucal_, stats = calibrate(
        untrained_model,
        [c.frames for c in holdout],
        cfg.data.window,
        cfg.scoring,
        appearance_channels=cfg.data.preprocess.appearance_channels,
    )
    untrained = Artifact(cfg, untrained_model, ucal_, stats)
    ucal = calibrated_from_stats(untrained.stats, "untrained")
    urep, _ = report_for(score_dataset(untrained, data, 16), "streaming", ucal, cfg, {})
    print(f"streaming micro AUC: trained {rep['micro_auc']:.4f}, untrained {urep['micro_auc']:.4f}")
    assert np.isfinite(rep["micro_auc"]) and np.isfinite(urep["micro_auc"])
    return rep["micro_auc"], urep["micro_auc"]


@pytest.mark.ped2
@pytest.mark.slow
def test_brief_training_beats_untrained(ped2: Path, tmp_path: Path) -> None:
    trained, untrained = brief_vs_untrained(ped2, tmp_path)
    assert untrained < FLOOR <= trained


@pytest.mark.ped2
@pytest.mark.slow
def test_ped1_videos_train_and_evaluate_end_to_end(ped1: Path, tmp_path: Path) -> None:
    # Ped1 is stored as H.264 videos: the same path from decoding to the streaming report.
    trained, untrained = brief_vs_untrained(ped1, tmp_path)
    assert trained > untrained + PED1_MARGIN
