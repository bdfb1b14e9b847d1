"""Per-camera recalibration: recompute one camera's adaptive-threshold statistics from its
recent normal footage and write them to the state store, without redeploying.

    python -m trainers.recalibrate --camera ID --artifact DIR --config FILE \\
        [--source PATH_OR_URL] [--frames N] [--dry-run]

Frames come from the camera's configured source (or ``--source``) through the same
capture path as ingest (fps sampling, gray/colour, resize), are cut into windows like
ingest cuts them, and are scored by the same ``ScoringService`` a Serve replica runs,
with the camera's regions of interest. Each frame's score is that of the first window
holding it, as a stream worker applies it, and the scores are replayed through the
worker's own estimator (``RunningStats.update`` with ``threshold.halflife_frames``), so
the stored statistics are those a worker would hold after watching this footage
without alerts. The footage must be normal: nothing is excluded.

The write is one ``store.transact`` that replaces ``stats`` and keeps the rest of the
camera's state (sequence numbers, smoothing, an open incident, the outbox), so running
workers continue from it. ``--artifact`` also takes a store pointer (``STORE/NAME`` or
``STORE/NAME/current``). It runs as a Ray job's entrypoint (the chart's RayJob) but
needs no Ray tasks: one camera's few thousand frames score in one process.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig
from streamproc.errors import ConfigError, DataError
from streamproc.model.artifact import Artifact
from streamproc.model.store import POINTER
from streamproc.serving.scorer import ScoreRequest, ScoringService
from streamproc.sources.camera import Frame
from streamproc.sources.runner import CameraRunner
from streamproc.threshold import CameraSettings, CameraState, RunningStats, make_store
from streamproc.threshold.base import StateStore
from streamproc.threshold.policy import Calibrated, Policy, calibrated_from_stats, threshold_for
from streamproc.windowing.windows import Window, Windower
from trainers.options import EXIT_OK, add_config_args, config_from_args, main_guard

DEFAULT_FRAMES = 2000


def resolve_artifact(path: Path) -> Path:
    """An artifact directory, or the version a store pointer names."""
    if (path / "metadata.json").is_file():
        return path
    pointer = path / POINTER if path.is_dir() else path
    if pointer.is_file():
        version = pointer.read_text().strip()
        target = pointer.parent / version
        if (target / "metadata.json").is_file():
            return target
        raise DataError(f"{pointer} names version {version!r}, but {target} is not an artifact")
    raise DataError(f"{path}: neither a model artifact nor a model store pointer")


def find_camera(cfg: StreamprocConfig, camera: str, source: str | None) -> CameraConfig:
    cams = {c.id: c for c in cfg.cameras.cameras}
    if camera in cams:
        cam = cams[camera]
    elif source is not None:  # a camera known only by its footage: the global defaults
        cam = CameraConfig.model_validate(
            {**cfg.cameras.defaults.model_dump(), "id": camera, "source": source}
        )
    else:
        raise ConfigError(
            f"camera {camera!r} is not in the config (cameras: {sorted(cams) or 'none'}); "
            "add it or pass --source"
        )
    update: dict[str, Any] = {"loop": False, "realtime": False}  # files as fast as they read
    if source is not None:
        update["source"] = source
    return CameraConfig.model_validate({**cam.model_dump(), **update})


def read_frames(cam: CameraConfig, limit: int, timeout_s: float) -> list[Frame]:
    """Up to ``limit`` frames through ingest's capture path (``CameraRunner``)."""
    frames: list[Frame] = []
    enough = threading.Event()

    def on_frame(_: str, frame: Frame) -> None:
        if len(frames) < limit:
            frames.append(frame)
        if len(frames) >= limit:
            enough.set()

    runner = CameraRunner(cam, on_frame, on_end=lambda _: enough.set())
    runner.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not enough.wait(0.2) and not runner.ended and time.monotonic() < deadline:
            pass
    finally:
        runner.stop()
        runner.join(5.0)
    if not frames:
        raise DataError(f"camera {cam.id}: no frames read ({runner.status().last_error})")
    return frames


def frame_scores(
    service: ScoringService,
    camera: str,
    frames: list[Frame],
    settings: CameraSettings,
    batch: int = 16,
) -> np.ndarray:
    """One score per frame: from the first window holding it, as a worker applies them."""
    w = service.artifact.config.data.window
    windower = Windower(camera, w.length, w.stride)
    windows: list[Window] = []
    for f in frames:
        if (win := windower.push(f.image, f.timestamp)) is not None:
            windows.append(win)
    if (last := windower.flush()) is not None:
        windows.append(last)
    if not windows:
        raise DataError(f"camera {camera}: {len(frames)} frames, fewer than one window")
    scores = np.full(len(frames), np.nan)
    for i in range(0, len(windows), batch):
        chunk = windows[i : i + batch]
        requests = [
            ScoreRequest(camera, x.seq, x.frames, x.context, settings.roi, settings.exclude)
            for x in chunk
        ]
        for x, r in zip(chunk, service.score(requests), strict=True):
            seg = scores[x.seq : x.seq + len(r.scores)]
            fresh = np.isnan(seg)
            seg[fresh] = np.asarray(r.scores)[fresh]
    return scores[~np.isnan(scores)]


def replay(scores: np.ndarray, halflife: float) -> RunningStats:
    stats = RunningStats()
    for x in scores.tolist():
        stats.update(x, halflife)
    return stats


def write_stats(store: StateStore, camera: str, stats: RunningStats) -> CameraState:
    def fn(state: CameraState | None) -> tuple[CameraState, CameraState]:
        st = state.model_copy(deep=True) if state is not None else CameraState()
        st.stats = stats.model_copy()
        return st, st

    return store.transact(camera, fn)


def calibrated(art: Artifact) -> Calibrated:
    return calibrated_from_stats(art.stats, art.version)


def recalibrate(
    cfg: StreamprocConfig,
    camera: str,
    artifact: Path,
    source: str | None = None,
    frames: int = DEFAULT_FRAMES,
    timeout_s: float = 600.0,
    dry_run: bool = False,
    store: StateStore | None = None,
) -> dict[str, Any]:
    """Recompute and (unless ``dry_run``) store ``camera``'s statistics; a summary."""
    path = resolve_artifact(artifact)
    # scored as the replicas score (serving.precision, serving.engine)
    service = ScoringService(
        path, cfg.serving.device, precision=cfg.serving.precision, engine=cfg.serving.engine
    )
    cam = find_camera(cfg, camera, source)
    own_store = store is None
    store = store if store is not None else make_store(cfg.state)
    try:
        settings = store.get_settings(camera)
        before = store.get_state(camera) or CameraState()
        scores = frame_scores(service, camera, read_frames(cam, frames, timeout_s), settings)
        stats = replay(scores, cfg.threshold.halflife_frames)
        after = before.model_copy(update={"stats": stats})
        if not dry_run:
            after = write_stats(store, camera, stats)
    finally:
        if own_store:
            store.close()
    policy = Policy(cfg.threshold, cfg.smoothing, cfg.alerts)
    cal = calibrated(service.artifact)
    return {
        "camera": camera,
        "artifact": str(path),
        "version": service.version,
        "frames": int(scores.size),
        "written": not dry_run,
        "before": before.stats.model_dump(),
        "after": stats.model_dump(),
        "threshold_before": threshold_for(before, settings, cal, policy),
        "threshold_after": threshold_for(after, settings, cal, policy),
        "adaptive_in_use": cfg.threshold.mode == "adaptive"
        and stats.count >= cfg.threshold.min_samples,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainers.recalibrate", description=__doc__.split("\n")[0]
    )
    p.add_argument("--camera", required=True, help="Camera id (its state-store key).")
    p.add_argument("--artifact", required=True, help="Artifact dir or STORE/NAME[/current].")
    p.add_argument("--source", default=None, help="Footage instead of the camera's source.")
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="Frames to read.")
    p.add_argument("--timeout", type=float, default=600.0, help="Stop reading after seconds.")
    p.add_argument("--dry-run", action="store_true", help="Compute and print, write nothing.")
    add_config_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    cfg = config_from_args(ns)
    summary = recalibrate(
        cfg, ns.camera, Path(ns.artifact), ns.source, ns.frames, ns.timeout, ns.dry_run
    )
    print(json.dumps(summary, indent=2), flush=True)
    if not summary["adaptive_in_use"]:
        print(
            f"note: {summary['frames']} frames < threshold.min_samples "
            f"({cfg.threshold.min_samples}) or threshold.mode is not adaptive: workers keep "
            "the calibrated threshold until a camera has seen min_samples normal frames",
            file=sys.stderr,
            flush=True,
        )
    return EXIT_OK


if __name__ == "__main__":
    main_guard(lambda: main(sys.argv[1:]))
