"""Per-camera decisions: a window's frame scores + the camera's state -> new state.

Pure and deterministic (it runs inside a state-store transaction and may be retried):
frames already applied (``seq <= last_seq``, e.g. the overlap of consecutive windows
or a redelivered window) are skipped; each new frame updates the adaptive threshold
statistics, the smoothing/persistence/hysteresis state and the incident, and the
messages to publish are appended to the state's outbox.

A camera's frames come in capture segments (``ScoredWindow.segment``, split at breaks in
capture: a reconnect, a loop, a gap; a new stream is a new segment too). A segment's first
``alerts.warmup_frames`` frames are scored and published (``active`` false) but decide
nothing: they neither open, extend nor end an incident, nor feed the normal level, since
the first window of a segment is a start transient. Smoothing restarts at the segment's
first frame and again at its first warm one, so no transient score is in the smoothing
when a decision counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamproc.alerts.schema import AlertEvent, EndReason, ScoreEvent, event_id
from streamproc.smoothing.decision import Decider
from streamproc.threshold.base import (
    RETIRED_STREAMS_KEPT,
    CameraSettings,
    CameraState,
    OpenAlert,
    RunningStats,
)
from streamproc.threshold.policy import Calibrated, Level, Policy, level_for, warm_start

__all__ = [
    "Calibrated",
    "Policy",
    "ScoredWindow",
    "apply_scores",
    "end_if_gone",
    "is_retired",
    "replay_published",
]


def _event(
    camera: str,
    kind: str,
    seq: int,
    a: OpenAlert,
    score: float,
    thr: float,
    version: str,
    end_time: float | None = None,
    heatmap: str | None = None,
    reason: EndReason | None = None,
) -> dict:
    return {
        "topic": "alerts",
        "key": camera,
        "payload": AlertEvent(
            event_id=a.event_id,
            kind=kind,
            seq=seq,
            camera=camera,
            start_seq=a.start_seq,
            start_time=a.start_time,
            end_time=end_time,
            end_seq=a.last_active_seq if kind == "end" else None,
            reason=reason,
            peak_score=a.peak_score,
            current_score=score,
            threshold=thr,
            model_version=version,
            heatmap_png_b64=heatmap,
        ).model_dump(mode="json"),
    }


def _close(
    st: CameraState,
    camera: str,
    seq: int,
    score: float,
    thr: float,
    version: str,
    reason: EndReason,
) -> None:
    """Append the open incident's ``end`` message (decided at ``seq``) and close it."""
    a = st.alert
    assert a is not None
    end = _event(
        camera, "end", seq, a, score, thr, version, end_time=a.last_active_time, reason=reason
    )
    st.outbox.append(end)
    st.alert = None


def _end(st: CameraState, camera: str, reason: EndReason, cal: Calibrated) -> None:
    """Close the open incident outside a frame's decision (its stream or camera went away):
    the message repeats the last frame's sequence number and the calibrated threshold."""
    a = st.alert
    if a is None:
        return
    seq = st.last_seq if st.last_seq >= 0 else a.last_active_seq
    _close(st, camera, seq, a.peak_score, cal.mean + cal.k * cal.std, cal.model_version, reason)


def _new_stream(st: CameraState, camera: str, stream: str, cal: Calibrated) -> None:
    """The camera's capture restarted: sequence numbers and smoothing start over, an open
    incident is closed, the old stream is retired, the learned statistics are kept."""
    _end(st, camera, "stream-restart", cal)
    if st.stream or st.last_seq >= 0:
        retired = [s for s in st.retired_streams if s != st.stream] + [st.stream]
        st.retired_streams = retired[-RETIRED_STREAMS_KEPT:]
    st.stream, st.last_seq, st.decider = stream, -1, None


def is_retired(state: CameraState | None, stream: str) -> bool:
    """True when a window of ``stream`` is late for this camera: its session was replaced."""
    return state is not None and stream != state.stream and stream in state.retired_streams


def end_if_gone(
    state: CameraState | None, camera: str, now: float, timeout_s: float, cal: Calibrated
) -> CameraState | None:
    """The state with its open incident ended as ``camera-gone`` when no window was applied
    for ``timeout_s`` (worker wall clock); None when there is nothing to end. Pure, so it
    may run inside a store transaction and be retried; a second run finds nothing open."""
    if state is None or state.alert is None:
        return None
    seen = state.seen_at or state.last_time  # a state from before seen_at existed
    if now - seen < timeout_s:
        return None
    return end_open(state, camera, "camera-gone", cal)


def end_open(
    state: CameraState | None, camera: str, reason: EndReason, cal: Calibrated
) -> CameraState | None:
    """The state with its open incident ended for ``reason`` outside a frame's decision
    (the camera went away, or the worker stopped cleanly); None when nothing is open.
    Pure and idempotent like ``end_if_gone``; smoothing starts afresh afterwards."""
    if state is None or state.alert is None:
        return None
    st = state.model_copy(deep=True)
    _end(st, camera, reason, cal)
    st.decider = None  # when the camera returns, smoothing starts afresh
    return st


def _rebaseline(st: CameraState, level: float, p: Policy) -> None:
    """After a maximum-length incident: the camera's normal level restarts from the
    current one (its spread is kept), worth ``min_samples`` frames, and smoothing restarts."""
    st.stats = RunningStats(count=p.threshold.min_samples, mean=level, var=st.stats.var)
    st.decider = None


@dataclass(frozen=True)
class ScoredWindow:
    """One window's model output, as the decision stage takes it."""

    camera: str
    first_seq: int  # sequence number of scores[0]
    scores: list[float]  # raw per-frame scores
    timestamps: list[float]  # capture time per frame, unix seconds
    stream: str = ""  # capture session the sequence numbers belong to
    heatmap: str | None = None  # thumbnail for a 'start' event, if the window has one
    segment: int = 0  # capture segment of the frames (changes at a break in capture)


def apply_scores(
    state: CameraState | None,
    w: ScoredWindow,
    settings: CameraSettings,
    cal: Calibrated,
    p: Policy,
    publish_scores: bool = True,
    now: float | None = None,
) -> CameraState:
    """``now`` (the worker's wall clock) is recorded as ``seen_at`` for the camera-gone
    check; a window of a retired stream changes nothing (``is_retired`` tells it apart)."""
    camera, first_seq, scores, timestamps = w.camera, w.first_seq, w.scores, w.timestamps
    stream, heatmap = w.stream, w.heatmap
    st = state.model_copy(deep=True) if state is not None else CameraState()
    if stream != st.stream:
        if stream in st.retired_streams:
            return st  # a late or redelivered window of a replaced session
        _new_stream(st, camera, stream, cal)
    if now is not None:
        st.seen_at = now
    st.stats = warm_start(st.stats, cal, p)
    first_new = max(first_seq, st.last_seq + 1)
    if first_new < first_seq + len(scores):
        if st.last_seq < 0:  # a new camera or stream: its smoothing is new already
            st.segment, st.segment_start = w.segment, first_new
        elif w.segment != st.segment:
            # A break in capture: the frames before it are not this footage's past.
            st.segment, st.segment_start, st.decider = w.segment, first_new, None
    warmup = p.alerts.warmup_frames
    for i, raw in enumerate(scores):
        seq = first_seq + i
        if seq <= st.last_seq:
            continue  # already applied: window overlap or redelivery
        ts = timestamps[i]
        level = level_for(st, settings, cal, p)
        thr = level.threshold
        into = seq - st.segment_start  # frames of the segment before this one
        # Smoothing starts afresh at the first warm frame: no transient score in it.
        decider = Decider(thr, p.smoothing, None if into == warmup else st.decider)
        d = decider.update(raw)
        st.decider = decider.snapshot()
        if into < warmup:
            _publish(st, camera, seq, ts, raw, d.smoothed, False, level, cal, publish_scores)
            st.last_seq, st.last_time = seq, ts
            continue
        # Every frame counts, capped at the threshold in force (see RunningStats.update):
        # an incident lifts the camera's normal level by at most alpha * k std a frame,
        # so a real anomaly is not learned as normal within its lifetime, while a lasting
        # change of the scene (a camera knocked, a new road) is absorbed instead of
        # holding one incident open for good.
        st.stats.update(raw, p.threshold.halflife_frames, cap=thr)
        a = st.alert
        if d.active and a is None:
            a = st.alert = OpenAlert(
                event_id=event_id(camera, st.stream, seq, cal.model_version),
                start_seq=seq,
                start_time=ts,
                peak_score=d.smoothed,
                last_update_seq=seq,
                last_active_seq=seq,
                last_active_time=ts,
            )
            st.outbox.append(
                _event(
                    camera,
                    "start",
                    seq,
                    a,
                    d.smoothed,
                    thr,
                    cal.model_version,
                    heatmap=heatmap if p.alerts.heatmaps else None,
                )
            )
        elif a is not None:
            if d.active:
                a.last_active_seq, a.last_active_time = seq, ts
                a.peak_score = max(a.peak_score, d.smoothed)
                if seq - a.last_update_seq >= p.alerts.update_every_frames:
                    a.last_update_seq = seq
                    st.outbox.append(
                        _event(camera, "update", seq, a, d.smoothed, thr, cal.model_version)
                    )
            elif seq - a.last_active_seq > p.alerts.cooldown_frames:
                _close(st, camera, seq, d.smoothed, thr, cal.model_version, "quiet")
            if st.alert is not None and seq - a.start_seq + 1 >= p.alerts.max_incident_frames:
                # Open this long, it is the scene, not an incident: end it and learn it.
                _close(st, camera, seq, d.smoothed, thr, cal.model_version, "max-duration")
                _rebaseline(st, d.smoothed, p)
        _publish(st, camera, seq, ts, raw, d.smoothed, d.active, level, cal, publish_scores)
        st.last_seq, st.last_time = seq, ts
    return st


def _publish(
    st: CameraState,
    camera: str,
    seq: int,
    ts: float,
    raw: float,
    smoothed: float,
    active: bool,
    level: Level,
    cal: Calibrated,
    publish_scores: bool,
) -> None:
    """Append the frame's score message to the outbox (if scores are published)."""
    if not publish_scores:
        return
    st.outbox.append(
        {
            "topic": "scores",
            "key": camera,
            "payload": ScoreEvent(
                camera=camera,
                seq=seq,
                time=ts,
                score=raw,
                smoothed=smoothed,
                normalized=level.normalise(smoothed),
                threshold=level.threshold,
                active=active,
                model_version=cal.model_version,
                segment=st.segment,
            ).model_dump(mode="json"),
        }
    )


def replay_published(
    camera: str,
    stream: str,
    published: list[dict],
    settings: CameraSettings,
    cal: Calibrated,
    p: Policy,
) -> CameraState | None:
    """One uninterrupted pass of ``apply_scores`` over a camera's published score
    messages (the scores topic's payloads, by sequence number from 0, without gaps),
    capture segment by capture segment as a worker applied them, each run of one model
    version with that version (a worker judges a window with its calibration and the
    version that scored it): what the worker should have decided. None when there is
    no message."""
    st: CameraState | None = None
    start = 0

    def run_of(m: dict) -> tuple[int, str]:
        return m.get("segment", 0), m.get("model_version", cal.model_version)

    for end in range(1, len(published) + 1):
        segment, version = run_of(published[start])
        if end < len(published) and run_of(published[end]) == (segment, version):
            continue
        part = published[start:end]
        window = ScoredWindow(
            camera,
            int(part[0]["seq"]),
            [m["score"] for m in part],
            [m["time"] for m in part],
            stream,
            segment=segment,
        )
        judged = Calibrated(cal.mean, cal.std, cal.k, version)
        st = apply_scores(st, window, settings, judged, p)
        start = end
    return st
