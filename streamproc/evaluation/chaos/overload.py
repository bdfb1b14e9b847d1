"""The overload scenario: cameras paced at about twice what one worker scores, for
``overload_s``; then the worker catches up. Kafka holds the backlog, so nothing should be
dropped; anything that is (a frame the camera runner could not queue, a window the broker
did not take) must be counted by a metric, and every window is scored or counted as
dropped: 0 silently lost. Reported: the offered and the scored rate, the peak backlog
(windows sent and not committed), the time to drain it, the worker's RSS over time."""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import TYPE_CHECKING

from streamproc import metrics
from streamproc.config.cameras import CameraConfig
from streamproc.evaluation.chaos.harness import Run
from streamproc.evaluation.chaos.inputs import write_videos
from streamproc.evaluation.chaos.oracle import Result, finish, latency_between

if TYPE_CHECKING:
    from streamproc.evaluation.chaos.scenarios import Options

WARMUP_TIMEOUT_S = 180.0
STALL_S = 120.0  # the drain fails once no new frame was scored for this long
WARMUP_COPIES = 3  # of each clip: a burst of seconds, long enough to time on 2 cores


FRAMES_DROPPED = "streamproc_frames_dropped_total"  # by camera and reason
WINDOWS_FAILED = "streamproc_windows_delivery_failed_total"  # by camera
WINDOWS_SENT = "streamproc_windows_sent_total"  # by camera, once the broker acknowledged


def _count(name: str, cameras: list[str], by: str = "camera") -> Counter[str]:
    """A counter of this process's metrics (the ingest's) over ``cameras``, by label ``by``."""
    out: Counter[str] = Counter()
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels.get("camera") in cameras:
                out[sample.labels.get(by, "-")] += int(sample.value)
    return out


def worker_rate(run: Run) -> float:
    """Frames/s one worker scores: the run's own clips, as warm-up cameras of other ids,
    sent at once and timed over the middle 90% of their scores."""
    warm = [
        c.model_copy(update={"id": f"warm{k}-{i}"})
        for k in range(WARMUP_COPIES)
        for i, c in enumerate(run.cameras)
    ]
    n = sum(run.frames.values()) * WARMUP_COPIES
    run.ingest(cameras=warm)
    deadline = time.monotonic() + WARMUP_TIMEOUT_S
    ids = {c.id for c in warm}
    while time.monotonic() < deadline:
        with run._lock:
            done = sum(run.seen.per_camera[c] for c in ids)
        if done >= n:
            break
        time.sleep(0.2)
    with run._lock:
        times = sorted(at for (cam, _), at in run.seen.first_at.items() if cam in ids)
    if len(times) < n // 2:
        raise RuntimeError(f"{run.id}: the warm-up scored {len(times)} of {n} frames")
    # Not the worker's first polls, nor its last, half-empty ones.
    a, b = len(times) // 20, len(times) * 19 // 20
    return (b - a) / max(times[b] - times[a], 1e-3)


def overload(run: Run, opt: Options) -> Result:
    res = Result("overload-2x")
    run.start_worker()
    run.wait_ready(1, 120)
    rate = worker_rate(run)
    cams = len(run.cameras)
    fps = 2 * rate / cams
    frames = math.ceil(fps * opt.overload_s)
    videos = write_videos(run.dir.parents[1] / "videos", cams, frames, round(fps, 2))
    cameras = [
        CameraConfig(id=f"load{i}", source=str(v), realtime=True) for i, v in enumerate(videos)
    ]
    ids = [c.id for c in cameras]
    run.use_cameras(cameras, dict.fromkeys(ids, frames))
    frames0, reasons0 = _count(FRAMES_DROPPED, ids), _count(FRAMES_DROPPED, ids, "reason")
    failed0, sent0 = _count(WINDOWS_FAILED, ids).total(), _count(WINDOWS_SENT, ids).total()
    committed0 = run.committed_now()
    rss0 = len(run.rss)
    t0 = time.monotonic()
    run.ingest(fps=round(fps, 2))
    ingest = run._ingest
    assert ingest is not None
    peak = 0
    while not ingest.finished and time.monotonic() - t0 < opt.overload_s * 1.5 + 60:
        time.sleep(1.0)
        sent = _count(WINDOWS_SENT, ids).total() - sent0
        peak = max(peak, sent - (run.committed_now() - committed0))
    t1 = time.monotonic()
    scored_during = run.scored()
    ingest.stop()  # flushes the producer: every window is acknowledged or counted failed
    dropped = _count(FRAMES_DROPPED, ids) - frames0
    reasons = _count(FRAMES_DROPPED, ids, "reason") - reasons0
    failed = _count(WINDOWS_FAILED, ids).total() - failed0
    # A dropped frame is never numbered: the camera's windows cover the others only. (A
    # window the broker did not take is counted too, and its frames show as lost below.)
    run.frames = {c: frames - dropped[c] for c in ids}
    # The backlog takes as long as it takes on a shared machine: wait while it shrinks.
    _drain(run, cap_s=opt.overload_s * 4 + 300)
    res = finish(run, res, timeout_s=10)
    drained = _last_seen(run) - t1
    res.recover_s = drained  # the backlog is gone: the worker is back to live
    res.backlog_peak, res.drops_counted = peak, dropped.total() + failed
    lat = latency_between(run, t0, t1)
    if lat is not None:
        res.latency_p50_s, res.latency_max_s = lat
    rss = [kib / 1024 for _, kib in run.rss[rss0:]]
    scored_rate = scored_during / max(t1 - t0, 1e-9)
    res.notes.append(
        f"worker {rate:.1f} frames/s alone; offered {cams * fps:.1f} frames/s for "
        f"{t1 - t0:.0f} s, scored {scored_rate:.1f} frames/s meanwhile (offered/scored "
        f"{cams * fps / max(scored_rate, 1e-9):.2f}x); backlog drained {drained:.0f} s after "
        "the cameras stopped"
    )
    res.notes.append(
        f"dropped and counted: frames {dict(reasons) or 0} ({FRAMES_DROPPED}), "
        f"windows {failed} ({WINDOWS_FAILED})"
    )
    if rss:
        res.notes.append(
            f"worker RSS MiB over {len(rss)} samples: first {rss[0]:.0f}, "
            f"max {max(rss):.0f}, last {rss[-1]:.0f}"
        )
    return res


def _drain(run: Run, cap_s: float) -> None:
    """Wait until every frame is scored, as long as scoring goes on (at most ``cap_s``)."""
    t0 = last_at = time.monotonic()
    last = run.scored()
    while last < run.total_frames and time.monotonic() - t0 < cap_s:
        time.sleep(1.0)
        n = run.scored()
        if n > last:
            last, last_at = n, time.monotonic()
        elif time.monotonic() - last_at > STALL_S:
            return


def _last_seen(run: Run) -> float:
    with run._lock:
        return max(run.seen.first_at.values(), default=time.monotonic())
