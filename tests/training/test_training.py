from pathlib import Path

import numpy as np
import pytest

from streamproc.errors import DataError
from streamproc.model.artifact import load_artifact
from streamproc.training import train
from streamproc.training.checkpoint import CHECKPOINT_DIR
from streamproc.training.data import LoadedClip, WindowDataset, load_training_data, split_holdout
from streamproc.training.loop import config_hash, fit
from tests.helpers import tiny_config


def test_holdout_keeps_whole_clips_apart() -> None:
    clips = [LoadedClip(str(i), np.zeros((10, 2, 4, 4), np.float32)) for i in range(10)]
    train_c, held = split_holdout(clips, 0.2, seed=1, min_frames=4)
    assert len(held) == 2 and not {c.name for c in held} & {c.name for c in train_c}
    one = [LoadedClip("cam", np.zeros((40, 2, 4, 4), np.float32))]
    t, h = split_holdout(one, 0.25, seed=0, min_frames=4)
    assert len(t[0].frames) == 30 and len(h[0].frames) == 10
    with pytest.raises(DataError, match="too few"):
        split_holdout([LoadedClip("c", np.zeros((6, 2, 4, 4), np.float32))], 0.1, 0, 4)


def test_augmentation_leaves_motion_channel_alone() -> None:
    cfg = tiny_config(data__augment__contrast=0.5)
    frames = np.full((8, 2, 32, 48), 0.5, np.float32)
    frames[:, 1] = 0.0
    ds = WindowDataset([LoadedClip("a", frames)], cfg.data, cfg.data.augment)
    w = ds[0]
    assert w.shape == (2, 4, 32, 48) and float(w[1].abs().max()) == 0.0


def test_training_is_seeded(synthetic_dataset: Path) -> None:
    cfg = tiny_config(training__epochs=1)
    tr, _ = load_training_data(synthetic_dataset, cfg.data, 0.3, 0)
    _, h1 = fit(cfg, tr)
    _, h2 = fit(cfg, tr)
    assert h1[0]["loss"] == pytest.approx(h2[0]["loss"], rel=1e-5)


def test_interrupted_training_resumes(synthetic_dataset: Path, tmp_path: Path) -> None:
    cfg = tiny_config(training__epochs=2)
    tr, _ = load_training_data(synthetic_dataset, cfg.data, 0.3, 0)
    out = tmp_path / "art"
    out.mkdir()

    class Stop(Exception):
        pass

    def crash_in_second_epoch(
        epoch: int, epochs: int, step: int, steps: int, parts: dict[str, float]
    ) -> None:
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        fit(cfg, tr, out, crash_in_second_epoch)
    assert (out / CHECKPOINT_DIR / "progress.json").exists()
    epochs_run: list[int] = []
    _, history = fit(cfg, tr, out, lambda e, *_: epochs_run.append(e))
    assert set(epochs_run) == {1} and [h["epoch"] for h in history] == [1, 2]
    _, fresh = fit(cfg, tr)
    assert history[0]["loss"] == pytest.approx(fresh[0]["loss"], rel=1e-5)
    assert config_hash(cfg) != config_hash(tiny_config(training__epochs=3))


def test_train_writes_loadable_artifact(synthetic_dataset: Path, tmp_path: Path) -> None:
    result = train(tiny_config(training__epochs=1), synthetic_dataset, tmp_path / "a")
    art = load_artifact(tmp_path / "a")
    assert art.version == result.version
    assert not (tmp_path / "a" / CHECKPOINT_DIR).exists()
