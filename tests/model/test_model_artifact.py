import json
from pathlib import Path

import numpy as np
import pytest

from streamproc.errors import ArtifactError
from streamproc.model.artifact import load_artifact
from streamproc.training import train
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def trained(synthetic_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("art")
    train(tiny_config(training__epochs=1), synthetic_dataset, out)
    return out


def test_round_trip_scores_identically(trained: Path) -> None:
    a, b = load_artifact(trained), load_artifact(trained)
    x = np.random.default_rng(0).random((2, 2, 4, 32, 48)).astype(np.float32)
    np.testing.assert_array_equal(
        a.scorer().score(x).frame_scores, b.scorer().score(x).frame_scores
    )
    meta = json.loads((trained / "metadata.json").read_text())
    assert meta["version"] == a.version and len(a.version) == 16
    assert meta["training"]["calibration_clips"] and a.threshold > a.stats["mean"]


def test_tampered_or_incomplete_artifact_is_refused(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in trained.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    cal = json.loads((copy / "calibration.json").read_text())
    cal["stats"]["threshold"] = 0.0
    (copy / "calibration.json").write_text(json.dumps(cal))
    with pytest.raises(ArtifactError, match="do not match version"):
        load_artifact(copy)
    (copy / "weights.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"missing weights\.safetensors"):
        load_artifact(copy)
    with pytest.raises(ArtifactError, match="not a directory"):
        load_artifact(tmp_path / "none")


def test_an_artifact_written_before_a_setting_existed_keeps_its_behaviour(
    trained: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "old"
    copy.mkdir()
    for f in trained.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((copy / "config.json").read_text())
    assert cfg["scoring"]["residual"] == "relative" and cfg["model"]["predict_motion"] is True
    assert cfg["scoring"]["fusion"] == "none" and cfg["model"]["predict_frames"] == 2
    # As older versions wrote it: none of the settings added since.
    del cfg["scoring"]["residual"], cfg["model"]["predict_motion"], cfg["model"]["predict_frames"]
    del cfg["scoring"]["fusion"], cfg["data"]["preprocess"]["flow_method"]
    (copy / "config.json").write_text(json.dumps(cfg))
    old = load_artifact(copy, verify=False)
    assert old.config.scoring.residual == "squared"  # not today's default
    assert old.config.model.predict_motion is False and old.config.model.predict_frames == 0
    assert old.config.scoring.fusion == "none"
    assert old.config.data.preprocess.flow_method == "farneback"
