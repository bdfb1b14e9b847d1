import numpy as np
import pytest

from streamproc.config.alerts import AlertsConfig
from streamproc.config.evaluation import EvaluationConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.config.threshold import ThresholdConfig
from streamproc.evaluation.baseline import motion_energy
from streamproc.evaluation.protocols import RawScores, run_protocol
from streamproc.threshold.policy import Calibrated, Policy

CAL = Calibrated(mean=0.5, std=0.5, k=2.0, model_version="v")  # threshold 1.5


def policy(smoothing: SmoothingConfig, mode: str = "adaptive", min_samples: int = 500) -> Policy:
    return Policy(
        ThresholdConfig(mode=mode, min_samples=min_samples, halflife_frames=200),  # type: ignore[arg-type]
        smoothing,
        AlertsConfig(cooldown_frames=2),
    )


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
    p = policy(SmoothingConfig(kind="none", persistence_k=1, persistence_n=1))
    ev = EvaluationConfig(offline_center_window=1)
    s = run_protocol("streaming", raw, labels, CAL, p, ev)
    o = run_protocol("offline", raw, labels, CAL, p, ev)
    assert o.report["micro_auc"] > s.report["micro_auc"]
    assert s.report["macro_auc"] == pytest.approx(o.report["macro_auc"])
    assert all(o.scores[k].min() == 0 and o.scores[k].max() == 1 for k in o.scores)


def test_streaming_decisions_need_persistence() -> None:
    labels = {"a": np.r_[np.zeros(10), np.ones(10)].astype(int)}
    s = np.zeros(20)
    s[3] = 5.0  # a one-frame spike
    s[10:] = 5.0
    raw = {"a": RawScores(s, s)}
    p = policy(SmoothingConfig(kind="none", persistence_k=3, persistence_n=4))
    r = run_protocol("streaming", raw, labels, CAL, p, EvaluationConfig())
    assert not r.decisions["a"][:10].any() and r.decisions["a"][12:].all()
    assert r.report["false_alarm_rate"] == 0 and r.report["fixed"]["false_alarm_rate"] == 0
    # One interval, found 2 frames (0.2 s at 10 fps) after it began, no false alert.
    assert r.report["event_recall"] == 1.0 and r.report["false_alerts"] == 0
    assert r.report["median_delay_s"] == pytest.approx(0.2)


def test_runtime_decisions_adapt_to_a_camera_whose_normal_level_is_higher() -> None:
    # A camera whose normal scores sit above the calibrated threshold: the fixed
    # calibration flags all of its normal frames; the adaptive threshold learns its level.
    rng = np.random.default_rng(1)
    n = 3000
    labels = {"hot": np.r_[np.zeros(n - 100), np.ones(100)].astype(int)}
    s = 2.0 + rng.normal(0, 0.2, n)
    s[-100:] += 3.0
    raw = {"hot": RawScores(s, s)}
    p = policy(SmoothingConfig(kind="none", persistence_k=2, persistence_n=3), min_samples=50)
    r = run_protocol("streaming", raw, labels, CAL, p, EvaluationConfig())
    assert r.report["fixed"]["false_alarm_rate"] > 0.9
    assert r.report["false_alarm_rate"] < 0.05
    assert r.report["event_recall"] == 1.0 and r.report["fixed"]["event_recall"] == 1.0
    # The reported score is the camera's own z-score: its anomaly stands out.
    assert r.scores["hot"][-50:].min() > r.threshold


def test_motion_energy_is_max_of_patch_difference() -> None:
    frames = np.zeros((3, 2, 16, 16), np.float32)
    frames[2, 1, 0:4, 0:4] = 1.0  # motion channel in the corner of the last frame
    s = motion_energy(frames, patch=4)
    assert s[0] == 0 and s[1] == 0 and s[2] == pytest.approx(1.0)
