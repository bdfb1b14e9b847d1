from streamproc.alerts.lifecycle import ScoredWindow, apply_scores, end_if_gone, is_retired
from streamproc.alerts.schema import AlertEvent, event_id
from streamproc.config.alerts import AlertsConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.config.threshold import ThresholdConfig
from streamproc.threshold.base import CameraSettings, CameraState
from streamproc.threshold.policy import Calibrated, Policy, threshold_for

CAL = Calibrated(mean=1.0, std=0.5, k=2.0, model_version="v1")  # threshold 2.0
# No warm-up here: these tests follow every frame's decision from the first;
# test_alerts_segments.py covers the warm-up of a start or a break.
POLICY = Policy(
    ThresholdConfig(mode="calibrated"),
    SmoothingConfig(kind="none", persistence_k=2, persistence_n=3, exit_ratio=0.8),
    AlertsConfig(cooldown_frames=3, update_every_frames=4, warmup_frames=0),
)


def run(
    scores: list[float],
    state: CameraState | None = None,
    first: int = 0,
    stream: str = "s1",
    policy: Policy = POLICY,
    t0: float = 100.0,
) -> CameraState:
    times = [t0 + first + i for i in range(len(scores))]
    window = ScoredWindow("cam", first, scores, times, stream)
    return apply_scores(state, window, CameraSettings(), CAL, policy)


def alerts(state: CameraState) -> list[AlertEvent]:
    return [AlertEvent(**m["payload"]) for m in state.outbox if m["topic"] == "alerts"]


def test_one_incident_is_one_event_through_a_flicker() -> None:
    # 5 high frames, a 2-frame dip (shorter than the cooldown), 3 high, then quiet.
    st = run([0.5] * 3 + [5.0] * 5 + [0.5] * 2 + [5.0] * 3 + [0.5] * 8)
    ev = alerts(st)
    assert [e.kind for e in ev].count("start") == 1 and ev[-1].kind == "end"
    assert len({e.event_id for e in ev}) == 1
    assert ev[0].event_id == event_id("cam", "s1", 4, "v1")  # 2nd high frame: k-of-n = 2 of 3
    # k-of-n still holds one frame after the last high score (2 of the last 3).
    assert ev[-1].end_time == 100.0 + 13 and ev[0].peak_score <= ev[-1].peak_score == 5.0
    assert st.alert is None


def test_overlap_and_redelivery_are_applied_once() -> None:
    st = run([0.5, 0.6, 0.7, 0.8])
    again = run([0.5, 0.6, 0.7, 0.8, 0.9, 1.0], st, first=0)  # overlaps 0..3
    scores = [m["payload"]["seq"] for m in again.outbox if m["topic"] == "scores"]
    assert scores == [0, 1, 2, 3, 4, 5] and again.last_seq == 5


def test_new_capture_session_restarts_sequence_and_closes_incident() -> None:
    st = run([5.0] * 4)
    assert st.alert is not None
    st.outbox.clear()
    restarted = run([0.5, 0.5], st, first=0, stream="s2", t0=200.0)
    assert [(e.kind, e.reason) for e in alerts(restarted)] == [("end", "stream-restart")]
    assert restarted.stream == "s2" and restarted.last_seq == 1
    late = apply_scores(
        restarted, ScoredWindow("cam", 9, [9.0], [50.0], "s1"), CameraSettings(), CAL, POLICY
    )
    assert late.last_seq == 1  # a late window of the old session changes nothing


def test_threshold_sources() -> None:
    st = CameraState()
    assert threshold_for(st, CameraSettings(), CAL, POLICY) == 2.0
    assert threshold_for(st, CameraSettings(threshold=7.0), CAL, POLICY) == 7.0
    assert threshold_for(st, CameraSettings(threshold_k=4.0), CAL, POLICY) == 3.0
    adaptive = Policy(
        ThresholdConfig(mode="adaptive", min_samples=50, halflife_frames=100),
        POLICY.smoothing,
        POLICY.alerts,
    )
    st = run([0.2] * 60, policy=adaptive)
    # Warm start: the calibration counts as min_samples (50) normal frames of its own.
    assert st.stats.count == 110 and st.alert is None
    assert abs(st.stats.mean - (50 * 1.0 + 60 * 0.2) / 110) < 1e-9
    # A static scene has no variance: the std floor keeps ordinary frames below threshold.
    assert 0.2 < threshold_for(st, CameraSettings(), CAL, adaptive) < 2.0


def test_a_new_camera_starts_from_the_calibration_and_moves_to_its_own_level() -> None:
    adaptive = Policy(
        ThresholdConfig(mode="adaptive", min_samples=50, halflife_frames=100),
        POLICY.smoothing,
        POLICY.alerts,
    )
    st = run([1.0], policy=adaptive)
    first = next(m["payload"] for m in st.outbox if m["topic"] == "scores")
    assert first["threshold"] == 2.0 and first["normalized"] == 0.0  # the calibration's
    quiet = run([0.4] * 1500, policy=adaptive)
    last = [m["payload"] for m in quiet.outbox if m["topic"] == "scores"][-1]
    # Its own normal level (0.4, std floored at a quarter of the calibrated 0.5) took over.
    assert abs(last["threshold"] - (0.4 + 2.0 * 0.125)) < 0.05
    assert abs(last["normalized"]) < 0.5


def test_alert_events_validate_against_schema() -> None:
    st = run([5.0] * 10)
    for e in alerts(st):
        assert e.camera == "cam" and e.model_version == "v1" and e.threshold == 2.0
    schema = AlertEvent.model_json_schema()
    assert {"event_id", "kind", "camera", "peak_score"} <= set(schema["properties"])


def test_a_future_timestamp_of_a_new_stream_does_not_mute_the_camera() -> None:
    st = run([0.5] * 4, stream="s1", t0=1000.0)
    skewed = run([0.5] * 2, st, stream="s2", t0=1000.0 + 20 * 3600)  # a clock hours ahead
    fresh = run([0.5] * 3, skewed, stream="s3", t0=1010.0)  # the real ingest restarted
    assert fresh.stream == "s3" and fresh.last_seq == 2
    assert fresh.retired_streams == ["s1", "s2"]


def test_a_new_stream_from_a_clock_running_behind_is_applied() -> None:
    st = run([0.5] * 4, stream="s1", t0=1000.0)
    behind = run([0.5] * 3, st, stream="s2", t0=400.0)
    assert behind.stream == "s2" and behind.last_seq == 2
    assert len([m for m in behind.outbox if m["topic"] == "scores"]) == 4 + 3


def test_a_window_of_a_retired_stream_is_skipped_and_the_list_is_bounded() -> None:
    st = run([0.5], stream="s0")
    for i in range(1, 12):
        st = run([0.5], st, stream=f"s{i}")
    assert st.retired_streams == [f"s{i}" for i in range(3, 11)]  # the last 8
    late = run([9.0] * 5, st, first=50, stream="s7", t0=1e9)
    assert is_retired(st, "s7") and late == st
    assert not is_retired(st, "s11") and not is_retired(st, "new")


def test_event_ids_differ_across_streams_and_are_stable_on_redelivery() -> None:
    a = run([5.0] * 4, stream="s1")
    b = run([5.0] * 4, stream="s2")
    again = run([5.0] * 4, stream="s1")
    assert alerts(a)[0].event_id != alerts(b)[0].event_id
    assert alerts(a)[0].event_id == alerts(again)[0].event_id


def test_an_incident_ends_at_max_duration_and_the_camera_rebaselines() -> None:
    adaptive = Policy(
        ThresholdConfig(mode="adaptive", min_samples=20, halflife_frames=50),
        POLICY.smoothing,
        AlertsConfig(
            cooldown_frames=3, update_every_frames=4, max_incident_frames=30, warmup_frames=0
        ),
    )
    st = run([0.8] * 40 + [6.0] * 100, policy=adaptive)  # the scene changed for good
    ev = alerts(st)
    assert [(e.kind, e.reason) for e in ev if e.kind != "update"] == [
        ("start", None),
        ("end", "max-duration"),
    ]
    assert ev[-1].seq - ev[0].start_seq + 1 == 30
    assert st.alert is None and abs(st.stats.mean - 6.0) < 0.5  # learned the new level


def test_a_camera_gone_ends_its_incident_once() -> None:
    window = ScoredWindow("cam", 0, [5.0] * 4, [100.0 + i for i in range(4)], "s1")
    st = apply_scores(None, window, CameraSettings(), CAL, POLICY, now=1000.0)
    assert st.alert is not None and st.seen_at == 1000.0
    assert end_if_gone(st, "cam", 1000.0 + 299, 300, CAL) is None
    gone = end_if_gone(st, "cam", 1000.0 + 300, 300, CAL)
    assert gone is not None and gone.alert is None
    assert [(e.kind, e.reason) for e in alerts(gone)][-1] == ("end", "camera-gone")
    assert end_if_gone(gone, "cam", 5000.0, 300, CAL) is None  # exactly once


def test_a_state_written_by_the_previous_version_loads() -> None:
    old = (
        '{"stream": "s1", "last_seq": 7, "last_time": 107.0, "stats": {"count": 3, '
        '"mean": 1.0, "var": 0.1}, "decider": null, "alert": null, "outbox": []}'
    )
    st = CameraState.model_validate_json(old)
    assert st.retired_streams == [] and st.seen_at == 0.0 and st.last_seq == 7
    assert run([0.5], st, first=8).last_seq == 8
