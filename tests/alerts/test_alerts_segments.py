"""Decisions at a start or a break in capture: the first ``alerts.warmup_frames`` frames
of a segment are published but decide nothing, and smoothing restarts."""

from __future__ import annotations

from streamproc.alerts.lifecycle import ScoredWindow, apply_scores
from streamproc.config.alerts import AlertsConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.config.threshold import ThresholdConfig
from streamproc.threshold.base import CameraSettings, CameraState
from streamproc.threshold.policy import Calibrated, Policy

CAL = Calibrated(mean=1.0, std=0.5, k=2.0, model_version="v1")  # threshold 2.0
WARM = 6
POLICY = Policy(
    ThresholdConfig(mode="calibrated"),
    SmoothingConfig(kind="mean", window=3, persistence_k=2, persistence_n=3),
    AlertsConfig(cooldown_frames=3, warmup_frames=WARM),
)
LOW, HIGH = 0.5, 6.0


def apply(
    state: CameraState | None, first: int, scores: list[float], segment: int = 0
) -> CameraState:
    times = [100.0 + (first + i) / 10 for i in range(len(scores))]
    w = ScoredWindow("cam", first, scores, times, "s1", segment=segment)
    return apply_scores(state, w, CameraSettings(), CAL, POLICY)


def starts(st: CameraState) -> list[int]:
    return [m["payload"]["seq"] for m in st.outbox if m["payload"].get("kind") == "start"]


def published(st: CameraState) -> dict[int, dict]:
    return {m["payload"]["seq"]: m["payload"] for m in st.outbox if m["topic"] == "scores"}


def test_a_start_transient_is_published_but_opens_nothing() -> None:
    st = apply(None, 0, [HIGH] * WARM + [LOW] * 10)
    assert starts(st) == []
    scores = published(st)
    assert sorted(scores) == list(range(16))  # every frame scored and published
    assert [scores[s]["active"] for s in range(16)] == [False] * 16
    assert scores[0]["score"] == HIGH
    # The transient did not move the camera's normal level: only warm frames count.
    assert st.stats.count == POLICY.threshold.min_samples + 10


def test_smoothing_holds_no_transient_score_when_decisions_start() -> None:
    # High to the last warm-up frame: with the smoother carried over, the first warm
    # frames would be above and open at once.
    st = apply(None, 0, [HIGH] * WARM + [LOW] * 2 + [HIGH] * 6)
    assert starts(st) == [WARM + 3]  # the second of two high frames (k-of-n 2 of 3)


def test_a_break_restarts_warm_up_and_an_anomaly_after_it_still_alerts() -> None:
    st = apply(None, 0, [LOW] * 20)
    # A reconnect: the new segment's first frames jump, as across a cut.
    st = apply(st, 20, [HIGH] * WARM, segment=1)
    assert starts(st) == [] and st.segment == 1 and st.segment_start == 20
    st.outbox.clear()
    st = apply(st, 20 + WARM, [LOW] * 4 + [HIGH] * 5, segment=1)
    assert starts(st) == [20 + WARM + 5]
    assert {p["segment"] for p in published(st).values()} == {1}  # on the scores topic


def test_a_window_that_brings_no_new_frame_changes_no_segment() -> None:
    st = apply(None, 0, [LOW] * 20)
    st = apply(st, 20, [LOW] * 10, segment=1)
    again = apply(st, 16, [LOW] * 4, segment=0)  # a redelivered window of the old segment
    assert (again.segment, again.segment_start, again.decider) == (1, 20, st.decider)


def test_without_warm_up_the_same_transient_opens_an_incident() -> None:
    # What the warm-up prevents (and why it must exist): the same start, warmup_frames 0.
    cold = Policy(POLICY.threshold, POLICY.smoothing, AlertsConfig(warmup_frames=0))
    times = [100.0 + i / 10 for i in range(16)]
    w = ScoredWindow("cam", 0, [HIGH] * WARM + [LOW] * 10, times, "s1")
    assert starts(apply_scores(None, w, CameraSettings(), CAL, cold)) == [1]
