"""Per-camera recalibration into the embedded SQLite state store."""

from pathlib import Path

import numpy as np
import pytest

from streamproc.config import apply_overrides
from streamproc.config.state import EmbeddedStateConfig
from streamproc.errors import ConfigError, DataError
from streamproc.model.store import ModelStore
from streamproc.serving.scorer import ScoringService
from streamproc.threshold import CameraSettings, CameraState, EmbeddedStateStore, RunningStats
from tests.helpers import tiny_config
from trainers.recalibrate import (
    find_camera,
    frame_scores,
    read_frames,
    recalibrate,
    replay,
    resolve_artifact,
)


@pytest.fixture
def setup(tmp_path: Path, synthetic_dataset: Path) -> tuple:
    clip = synthetic_dataset / "train" / "00"
    cfg = apply_overrides(
        tiny_config(),
        {
            "state": {"type": "embedded", "path": str(tmp_path / "state.db")},
            "cameras.cameras": [{"id": "gate", "source": str(clip)}],
            "threshold.min_samples": 20,
        },
    )
    store = EmbeddedStateStore(EmbeddedStateConfig(path=str(tmp_path / "state.db")))
    return cfg, store


def test_recalibration_writes_replayed_stats_and_keeps_state(
    setup: tuple, small_artifact: Path
) -> None:
    cfg, store = setup
    kept = CameraState(stream="s1", last_seq=123, stats=RunningStats(count=9, mean=5.0, var=1.0))
    store.transact("gate", lambda _: (kept, None))
    store.set_settings("gate", CameraSettings(threshold_k=2.0))
    summary = recalibrate(cfg, "gate", small_artifact, frames=30, store=store)
    state = store.get_state("gate")
    assert state is not None and (state.stream, state.last_seq) == ("s1", 123)
    assert summary["frames"] == 30 and state.stats.count == 30
    assert summary["before"] == {"count": 9, "mean": 5.0, "var": 1.0}
    assert summary["after"] == state.stats.model_dump()
    assert summary["adaptive_in_use"] and summary["written"]
    # k = the camera's 2.0; the std may be floored at a fraction of the calibrated one.
    own = state.stats.mean + 2.0 * np.sqrt(state.stats.var)
    assert summary["threshold_after"] >= own - 1e-9


def test_scores_match_the_serving_scorer(setup: tuple, small_artifact: Path) -> None:
    """The replayed stats equal those of the first-window scores the service gives."""
    cfg, store = setup
    summary = recalibrate(cfg, "gate", small_artifact, frames=40, store=store, dry_run=True)
    assert store.get_state("gate") is None  # dry run: nothing written
    service = ScoringService(small_artifact, "cpu")
    frames = read_frames(find_camera(cfg, "gate", None), 40, 30.0)
    scores = frame_scores(service, "gate", frames, CameraSettings())
    assert scores.shape == (40,)
    assert summary["after"] == replay(scores, cfg.threshold.halflife_frames).model_dump()


def test_artifact_from_store_pointer(small_artifact: Path, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    v = store.export(small_artifact)
    with pytest.raises(DataError, match="neither"):
        resolve_artifact(tmp_path / "store" / "attention-ae")  # nothing promoted yet
    store.promote(v.name, v.version)
    for p in (tmp_path / "store" / "attention-ae", tmp_path / "store" / "attention-ae" / "current"):
        assert resolve_artifact(p) == Path(v.uri)
    assert resolve_artifact(small_artifact) == small_artifact


def test_unknown_camera_needs_a_source(setup: tuple, synthetic_dataset: Path) -> None:
    cfg, _ = setup
    with pytest.raises(ConfigError, match="pass --source"):
        find_camera(cfg, "hall", None)
    cam = find_camera(cfg, "hall", str(synthetic_dataset / "train" / "01"))
    assert cam.id == "hall" and not cam.loop and not cam.realtime
