"""The one oracle of every chaos scenario: every (camera, seq) scored, no window lost,
the alert events exactly those of an uninterrupted pass over the same scores (the raw
scores the workers published, applied per camera by ``alerts.lifecycle.apply_scores``),
every injected bad record dead-lettered, no healthy one; copies counted, not hidden."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streamproc.alerts.lifecycle import replay_published
from streamproc.evaluation.chaos.harness import Run
from streamproc.pipeline import calibrated_from, policy_for
from streamproc.threshold.base import CameraSettings
from streamproc.windowing.windows import window_starts

AlertKey = tuple[str, str, int]  # (event_id, kind, seq): the consumer's dedupe key


@dataclass
class Result:
    scenario: str
    windows_sent: int = 0
    frames: int = 0
    frames_scored: int = 0
    windows_lost: int = 0
    duplicate_scores: int = 0
    duplicate_alert_messages: int = 0
    duplicate_alert_ids: int = 0  # after (event_id, kind, seq) dedupe: must be 0
    alerts: int = 0
    alerts_match: bool = False
    dead_lettered: Counter[str] = field(default_factory=Counter)
    bad_expected: int = 0
    bad_missed: int = 0  # injected bad records not dead-lettered
    healthy_dead_lettered: int = 0
    recover_s: float | None = None
    peak_rss_mib: float = 0.0
    # Capture-to-score latency (p50, max, seconds) of the frames first scored during the
    # fault, where the scenario measures it (paced cameras).
    latency_p50_s: float | None = None
    latency_max_s: float | None = None
    backlog_peak: int | None = None  # windows sent and not yet committed (overload)
    drops_counted: int | None = None  # frames/windows dropped and counted by a metric
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.frames_scored == self.frames
            and self.windows_lost == 0
            and self.duplicate_alert_ids == 0
            and self.alerts_match
            and self.bad_missed == 0
            and self.healthy_dead_lettered == 0
            and not [n for n in self.notes if n.startswith("FAIL")]
        )

    def as_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "dead_lettered"}
        return {**d, "dead_lettered": dict(self.dead_lettered), "passed": self.passed}


FINISH_S = 240.0  # longest wait for every frame after the fault


def finish(
    run: Run, res: Result, injected: list[bytes] | None = None, timeout_s: float = FINISH_S
) -> Result:
    """Wait for every frame (at most ``timeout_s``), let trailing messages arrive, judge."""
    if not run.wait_scored(run.total_frames, timeout_s):
        res.notes.append(
            f"FAIL only {run.scored()} of {run.total_frames} frames in {timeout_s:.0f} s"
        )
    run.settle()
    return judge(run, res, injected)


def judge(run: Run, result: Result, injected: list[bytes] | None = None) -> Result:
    """Fill ``result`` from what ``run`` saw; ``injected`` = every bad record sent (copies
    included: each copy must be dead-lettered)."""
    injected = injected or []
    bad = set(injected)
    seen = run.seen
    w = run.art.config.data.window
    result.frames = run.total_frames
    result.frames_scored = sum(1 for k in seen.scores if k[0] in run.frames)
    starts = {cam: window_starts(n, w.length, w.stride) for cam, n in run.frames.items()}
    result.windows_sent = sum(len(s) for s in starts.values()) + len(injected)
    result.windows_lost = sum(
        any((cam, f) not in seen.scores for f in range(s, s + w.length))
        for cam, cam_starts in starts.items()
        for s in cam_starts
    )
    result.duplicate_scores = seen.score_copies

    # Only the judged cameras' (a warm-up's cameras have no reference).
    alerts = [a for a in seen.alerts if a["camera"] in run.frames]
    copies = Counter((a["event_id"], a["kind"], int(a["seq"])) for a in alerts)
    result.duplicate_alert_messages = sum(n - 1 for n in copies.values())
    published = set(copies)
    # The same (event_id, kind) decided at two seqs is an incident decided twice.
    decided = Counter((eid, kind) for eid, kind, _ in published if kind in ("start", "end"))
    result.duplicate_alert_ids = sum(n - 1 for n in decided.values())
    expected = reference_alerts(run)
    result.alerts = len(published)
    result.alerts_match = expected is not None and published == expected
    if expected is not None and published != expected:
        extra = Counter(
            f"{a['kind']}/{a['reason']}"
            for a in alerts
            if (a["event_id"], a["kind"], int(a["seq"])) not in expected
        )
        result.notes.append(
            f"FAIL alerts: {len(published - expected)} not in the reference "
            f"({dict(extra)}), {len(expected - published)} of the reference missing"
        )
    if expected == set():
        result.notes.append("the reference has no alerts: the oracle tests little")

    dead_values = Counter(r.value for r in seen.dead)
    for r in seen.dead:
        result.dead_lettered[dict(r.headers).get("reason", b"?").decode()] += 1
    result.bad_expected = len(injected)
    sent = Counter(injected)
    result.bad_missed = sum(max(0, n - dead_values[v]) for v, n in sent.items())
    result.healthy_dead_lettered = sum(n for v, n in dead_values.items() if v not in bad)
    with run._lock:
        peaks = list(run.peak_rss_kib.values())
    result.peak_rss_mib = max(peaks, default=0) / 1024
    return result


def latency_between(run: Run, t0: float, t1: float) -> tuple[float, float] | None:
    """(p50, max) capture-to-score latency of the frames first scored in [t0, t1]
    (monotonic); None when none was."""
    with run._lock:
        lat = sorted(run.seen.latency[k] for k, at in run.seen.first_at.items() if t0 <= at <= t1)
    return (lat[len(lat) // 2], lat[-1]) if lat else None


def longest_pause(run: Run, since: float) -> tuple[float, float]:
    """(start, length) of the longest pause between scores first seen after ``since``
    (monotonic), ``since`` itself counting as the first: how long scoring stopped."""
    with run._lock:
        times = sorted(at for at in run.seen.first_at.values() if at >= since)
    best = (since, 0.0)
    for a, b in zip([since, *times], times, strict=False):
        if b - a > best[1]:
            best = (a, b - a)
    return best


def reference_alerts(run: Run) -> set[AlertKey] | None:
    """The alert events of one uninterrupted pass over every camera's published raw
    scores, capture segment by segment as the worker applied them; None when a camera
    lacks a score (then the run already failed)."""
    policy, cal = policy_for(run.cfg, run.art), calibrated_from(run.art)
    settings = CameraSettings(threshold=run.threshold)
    out: set[AlertKey] = set()
    for cam, n in run.frames.items():
        if any((cam, i) not in run.seen.scores for i in range(n)):
            return None
        seq = [run.seen.scores[(cam, i)] for i in range(n)]
        st = replay_published(cam, run.stream, seq, settings, cal, policy)
        if st is None:  # a camera that sent no frame
            continue
        out |= {
            (m["payload"]["event_id"], m["payload"]["kind"], int(m["payload"]["seq"]))
            for m in st.outbox
            if m["topic"] == "alerts"
        }
    return out
