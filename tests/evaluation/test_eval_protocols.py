import numpy as np
import pytest

from streamproc.config.evaluation import EvaluationConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.evaluation.baseline import motion_energy
from streamproc.evaluation.protocols import RawScores, run_protocol


def _data() -> tuple[dict[str, RawScores], dict[str, np.ndarray]]:
    labels = {
        "a": np.r_[np.zeros(20), np.ones(10)].astype(int),
        "b": np.r_[np.zeros(10), np.ones(20)].astype(int),
    }
    rng = np.random.default_rng(0)
    # Clip b runs "hot": all its scores are offset, which only per-clip min-max hides.
    raw = {}
    for name, off in (("a", 0.0), ("b", 2.0)):
        s = labels[name] * 1.0 + rng.normal(0, 0.2, 30) + off
        raw[name] = RawScores(streaming=s, offline=s)
    return raw, labels


def test_offline_minmax_hides_clip_offsets_streaming_does_not() -> None:
    raw, labels = _data()
    cfg = SmoothingConfig(kind="none", persistence_k=1, persistence_n=1)
    s = run_protocol("streaming", raw, labels, 1.5, cfg, EvaluationConfig(offline_center_window=1))
    o = run_protocol("offline", raw, labels, 1.5, cfg, EvaluationConfig(offline_center_window=1))
    assert o.report["micro_auc"] > s.report["micro_auc"]
    assert s.report["macro_auc"] == pytest.approx(o.report["macro_auc"])
    assert all(o.scores[k].min() == 0 and o.scores[k].max() == 1 for k in o.scores)


def test_streaming_decisions_need_persistence() -> None:
    labels = {"a": np.r_[np.zeros(10), np.ones(10)].astype(int)}
    s = np.zeros(20)
    s[3] = 5.0  # a one-frame spike
    s[10:] = 5.0
    raw = {"a": RawScores(s, s)}
    cfg = SmoothingConfig(kind="none", persistence_k=3, persistence_n=4)
    r = run_protocol("streaming", raw, labels, 1.0, cfg, EvaluationConfig())
    assert not r.decisions["a"][:10].any() and r.decisions["a"][12:].all()
    assert r.report["false_alarm_rate"] == 0


def test_motion_energy_is_max_of_patch_difference() -> None:
    frames = np.zeros((3, 2, 16, 16), np.float32)
    frames[2, 1, 0:4, 0:4] = 1.0  # motion channel in the corner of the last frame
    s = motion_energy(frames, patch=4)
    assert s[0] == 0 and s[1] == 0 and s[2] == pytest.approx(1.0)
