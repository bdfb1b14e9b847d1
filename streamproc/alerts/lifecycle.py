"""Per-camera decisions: a window's frame scores + the camera's state -> new state.

Pure and deterministic (it runs inside a state-store transaction and may be retried):
frames already applied (``seq <= last_seq``, e.g. the overlap of consecutive windows
or a redelivered window) are skipped; each new frame updates the adaptive threshold
statistics, the smoothing/persistence/hysteresis state and the incident, and the
messages to publish are appended to the state's outbox.
"""

from __future__ import annotations

from streamproc.alerts.schema import AlertEvent, event_id
from streamproc.smoothing.decision import Decider
from streamproc.threshold.base import CameraSettings, CameraState, OpenAlert
from streamproc.threshold.policy import Calibrated, Policy, level_for, warm_start

__all__ = ["Calibrated", "Policy", "apply_scores"]


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
            peak_score=a.peak_score,
            current_score=score,
            threshold=thr,
            model_version=version,
            heatmap_png_b64=heatmap,
        ).model_dump(mode="json"),
    }


def _new_stream(st: CameraState, camera: str, stream: str, cal: Calibrated) -> None:
    """The camera's capture restarted: sequence numbers and smoothing start over, an open
    incident is closed, the learned threshold statistics are kept."""
    if st.alert is not None:
        a = st.alert
        st.outbox.append(
            _event(
                camera,
                "end",
                st.last_seq,
                a,
                a.peak_score,
                cal.mean + cal.k * cal.std,
                cal.model_version,
                end_time=a.last_active_time,
            )
        )
        st.alert = None
    st.stream, st.last_seq, st.decider = stream, -1, None


def apply_scores(
    state: CameraState | None,
    camera: str,
    first_seq: int,
    scores: list[float],
    timestamps: list[float],
    settings: CameraSettings,
    cal: Calibrated,
    p: Policy,
    heatmap: str | None = None,
    publish_scores: bool = True,
    stream: str = "",
) -> CameraState:
    st = state.model_copy(deep=True) if state is not None else CameraState()
    if stream != st.stream:
        if st.stream and timestamps and timestamps[0] < st.last_time:
            return st  # a late window of an older capture session: nothing to apply
        _new_stream(st, camera, stream, cal)
    st.stats = warm_start(st.stats, cal, p)
    for i, raw in enumerate(scores):
        seq = first_seq + i
        if seq <= st.last_seq:
            continue  # already applied: window overlap or redelivery
        ts = timestamps[i]
        level = level_for(st, settings, cal, p)
        thr = level.threshold
        decider = Decider(thr, p.smoothing, st.decider)
        d = decider.update(raw)
        st.decider = decider.snapshot()
        # Every frame counts, capped at the threshold in force (see RunningStats.update):
        # an incident lifts the camera's normal level by at most alpha * k std a frame,
        # so a real anomaly is not learned as normal within its lifetime, while a lasting
        # change of the scene (a camera knocked, a new road) is absorbed instead of
        # holding one incident open for good.
        st.stats.update(raw, p.threshold.halflife_frames, cap=thr)
        a = st.alert
        if d.active and a is None:
            a = st.alert = OpenAlert(
                event_id=event_id(camera, seq, cal.model_version),
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
                st.outbox.append(
                    _event(
                        camera,
                        "end",
                        seq,
                        a,
                        d.smoothed,
                        thr,
                        cal.model_version,
                        end_time=a.last_active_time,
                    )
                )
                st.alert = None
        if publish_scores:
            st.outbox.append(
                {
                    "topic": "scores",
                    "key": camera,
                    "payload": {
                        "camera": camera,
                        "seq": seq,
                        "time": ts,
                        "score": raw,
                        "smoothed": d.smoothed,
                        "normalized": level.normalise(d.smoothed),
                        "threshold": thr,
                        "active": d.active,
                        "model_version": cal.model_version,
                    },
                }
            )
        st.last_seq, st.last_time = seq, ts
    return st
