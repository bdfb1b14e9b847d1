"""`streamproc bench pipeline`: replay every test clip of a labelled dataset as its own
camera through the full path (ingest -> frames topic -> worker -> model -> state ->
scores/alerts topics), read back what the pipeline published, and compare it with the
detection core's own streaming evaluation of the same artifact."""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch

from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig
from streamproc.config.state import EmbeddedStateConfig, RedisStateConfig
from streamproc.config.transport import KafkaTransportConfig, MemoryTransportConfig, TopicsConfig
from streamproc.errors import ConfigError
from streamproc.evaluation.events import intervals
from streamproc.evaluation.metrics import micro_auc
from streamproc.evaluation.runner import report_for, score_dataset
from streamproc.evaluation.services import services_env
from streamproc.model.artifact import Artifact, load_artifact
from streamproc.pipeline import Pipeline
from streamproc.serving.scorer import ScoreRequest, ScoringService
from streamproc.sources.dataset import open_split
from streamproc.sources.frames import read_frames
from streamproc.threshold.policy import calibrated_from_stats
from streamproc.transport.base import Record
from streamproc.windowing.windows import window_starts


@dataclass
class Collected:
    scores: dict[tuple[str, int], dict[str, Any]]
    received_at: dict[tuple[str, int], float]
    alerts: list[dict[str, Any]]
    redelivered: int


def bench_config(
    transport: Literal["kafka", "memory"],
    scoring: Literal["serve", "local"],
    run_id: str,
    state_dir: Path,
    workers: int,
    model_threads: int,
    replicas: int = 1,
    in_flight: int | None = None,
) -> StreamprocConfig:
    cfg = StreamprocConfig()
    if transport == "kafka":
        bootstrap, redis = services_env("--transport kafka")
        cfg.transport = KafkaTransportConfig(bootstrap_servers=bootstrap, partitions=12)
        cfg.state = RedisStateConfig(url=redis, key_prefix=f"bench-{run_id}")
    else:
        cfg.transport = MemoryTransportConfig(partitions=12)
        cfg.state = EmbeddedStateConfig(path=str(state_dir / "state.db"))
    cfg.topics = TopicsConfig.for_run("bench", run_id)
    cfg.serving.mode = scoring
    # The replica gets the threads the in-process raw measurement uses (Ray would give
    # it num_cpus = 1 thread), so frames_per_s / raw_frames_per_s compares like with like.
    cfg.serving.threads = model_threads
    cfg.serving.num_replicas = replicas
    cfg.worker.workers = workers
    if in_flight is not None:
        cfg.worker.max_in_flight = in_flight
    cfg.metrics.port = None
    return cfg


def collect(records: list[Record], into: Collected, scores_topic: str) -> None:
    now = time.time()
    for rec in records:
        payload = json.loads(rec.value)
        if rec.topic == scores_topic:
            key = (payload["camera"], int(payload["seq"]))
            if key in into.scores:
                into.redelivered += 1
                continue
            into.scores[key] = payload
            into.received_at[key] = now
        else:
            into.alerts.append(payload)


def alert_quality(alerts: list[dict[str, Any]], labels: dict[str, np.ndarray]) -> dict[str, Any]:
    """Alert events (deduplicated by id) against ground-truth anomalous intervals."""
    unique = {(a["event_id"], a["kind"], a["seq"]): a for a in alerts}
    starts: dict[str, list[dict[str, Any]]] = {}
    for a in unique.values():
        if a["kind"] == "start":
            starts.setdefault(a["event_id"], []).append(a)
    ends = {a["event_id"]: a for a in unique.values() if a["kind"] == "end"}
    events = []
    for eid, msgs in starts.items():
        first = msgs[0]
        end = ends.get(eid)
        last = int(end["end_seq"]) if end else 10**9  # still open at the end of the run
        events.append((first["camera"], int(first["start_seq"]), last))
    hits, found = 0, 0
    gt = {cam: intervals(lab) for cam, lab in labels.items()}
    for cam, first_seq, last_seq in events:
        hits += any(first_seq <= hi and lo <= last_seq for lo, hi in gt.get(cam, []))
    total_gt = sum(len(v) for v in gt.values())
    for cam, ivs in gt.items():
        found += sum(
            any(f <= hi and lo <= last for c, f, last in events if c == cam) for lo, hi in ivs
        )
    return {
        "alert_events": len(events),
        "gt_intervals": total_gt,
        "alert_precision": hits / len(events) if events else 0.0,
        "alert_recall": found / total_gt if total_gt else 0.0,
        "duplicate_alerts": sum(len(m) - 1 for m in starts.values()),
        "alert_messages_redelivered": len(alerts) - len(unique),
    }


def raw_throughput(
    artifact: Path, data: Path, batch: int, models: int = 1, passes: int = 2
) -> float:
    """Frames per second of the model scoring the same windows in batches, in-process:
    ``models`` copies scoring concurrently (one per Serve replica, each with the torch
    threads set by the caller), clips dealt out round robin.

    The best of ``passes`` timed passes: one pass varies by some 15% between runs on a
    small machine, and the best is the conservative reference for a pipeline/raw ratio."""
    services = [ScoringService(artifact, "auto") for _ in range(max(1, models))]
    w = services[0].artifact.config.data.window
    clips: list[list[ScoreRequest]] = []
    frames_total = 0
    for clip in open_split(data, "test"):
        # Cameras send gray frames by default; convert as the camera runner does.
        gray = np.stack(
            [
                f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
                for f in read_frames(clip.path)
            ]
        )
        starts = window_starts(len(gray), w.length, w.stride)
        clips.append(
            [
                ScoreRequest(clip.name, s, gray[s : s + w.length], gray[s - 1] if s > 0 else None)
                for s in starts
            ]
        )
        frames_total += len(gray)

    def work(k: int) -> None:
        for reqs in clips[k :: len(services)]:
            for i in range(0, len(reqs), batch):
                services[k].score(reqs[i : i + batch])

    best = 0.0
    for _ in range(max(1, passes)):
        t0 = time.perf_counter()
        threads = [threading.Thread(target=work, args=(k,)) for k in range(len(services))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        best = max(best, frames_total / (time.perf_counter() - t0))
    return best


def run_pipeline_bench(
    data: Path,
    artifact: Path,
    transport: Literal["kafka", "memory"],
    scoring: Literal["serve", "local"] = "serve",
    workers: int = 1,
    timeout_s: float = 1800,
    fps: float | None = None,
    log: Callable[[str], None] = print,
    model_threads: int | None = None,
    replicas: int = 1,
    camera_resize: tuple[int, int] | None = None,
    in_flight: int | None = None,
) -> dict[str, Any]:
    """``camera_resize``: (width, height) every camera downscales to at capture (the
    cameras' ``resize`` setting); None sends native frames. ``model_threads``: torch
    threads per Serve replica (default: the cores divided among the ``replicas``). The
    raw measurement runs as many models in-process, each with those threads: the same
    layout and compute the pipeline's model has."""
    if replicas > 1 and scoring != "serve":
        raise ConfigError("--replicas needs --scoring serve (local scoring has one model)")
    previous = torch.get_num_threads()
    threads = model_threads or max(1, previous // replicas)
    torch.set_num_threads(threads)  # the in-process scorer (local mode)
    try:
        return _run(
            data,
            artifact,
            transport,
            scoring,
            workers,
            timeout_s,
            fps,
            log,
            threads,
            replicas,
            camera_resize,
            in_flight,
        )
    finally:
        torch.set_num_threads(previous)


@dataclass
class Replay:
    """What one replay of a fleet through the pipeline published, and when."""

    cfg: StreamprocConfig
    got: Collected
    expected: dict[str, int]  # camera -> frames
    labels: dict[str, np.ndarray]
    t0: float  # ingest started
    t_end: float  # the last score arrived


Probe = Callable[[str, Pipeline], None]


def replay(
    cfg: StreamprocConfig,
    artifact: Path,
    data: Path,
    timeout_s: float,
    fps: float | None,
    camera_resize: tuple[int, int] | None,
    log: Callable[[str], None],
    probe: Probe | None = None,
) -> Replay:
    """Every test clip of ``data`` as a camera through ``cfg``'s pipeline; the scores and
    alerts it published. ``probe("start"|"end", pipeline)`` runs once the model and
    workers are up, just before the cameras start, and once the last score arrived,
    before anything is stopped (a cost measurement's two snapshots)."""
    art = load_artifact(artifact)
    clips = open_split(data, "test", require_labels=True)
    labels = {f"clip-{c.name}": c.labels for c in clips if c.labels is not None}
    cfg.smoothing = art.config.smoothing
    cfg.cameras.cameras = [
        CameraConfig(
            id=f"clip-{c.name}",
            source=str(c.path),
            source_fps=fps or 10.0,
            realtime=fps is not None,
            resize=camera_resize,
        )
        for c in clips
    ]
    expected = {cam: len(lab) for cam, lab in labels.items()}
    total = sum(expected.values())
    pipe = Pipeline(cfg, artifact)
    log(
        f"{len(clips)} cameras, {total} frames, transport {cfg.transport.type}, scoring "
        f"{cfg.serving.mode}, {cfg.worker.workers} worker(s), "
        f"{cfg.serving.num_replicas} replica(s)"
    )
    pipe.start(ingest=False)  # model and workers up first: startup is not throughput
    assert pipe.transport is not None
    collector = pipe.transport.consumer(
        [cfg.topics.scores, cfg.topics.alerts], f"bench-collector-{uuid.uuid4().hex[:8]}"
    )
    got = Collected({}, {}, [], 0)
    try:
        if probe:
            probe("start", pipe)
        t0 = time.time()
        pipe.start_ingest()
        deadline = t0 + timeout_s
        while len(got.scores) < total and time.time() < deadline:
            collect(collector.poll(500, 0.5), got, cfg.topics.scores)
        t_end = max(got.received_at.values(), default=time.time())
        if probe:
            probe("end", pipe)
        collect(collector.poll(500, 2.0), got, cfg.topics.scores)  # trailing alert ends
    finally:
        collector.close()
        pipe.stop()
    return Replay(cfg, got, expected, labels, t0, t_end)


def published(rep: Replay, field: str) -> dict[str, np.ndarray]:
    """Each complete camera's published series of ``field`` (cameras missing a frame
    are left out)."""
    series = {
        cam: np.array(
            [
                rep.got.scores[(cam, i)][field] if (cam, i) in rep.got.scores else np.nan
                for i in range(n)
            ]
        )
        for cam, n in rep.expected.items()
    }
    return {cam: s for cam, s in series.items() if not np.isnan(s).any()}


def windows_lost(rep: Replay, art: Artifact) -> int:
    w = art.config.data.window
    return sum(
        any((cam, f) not in rep.got.scores for f in range(s, s + w.length))
        for cam, n in rep.expected.items()
        for s in window_starts(n, w.length, w.stride)
    )


def _run(
    data: Path,
    artifact: Path,
    transport: Literal["kafka", "memory"],
    scoring: Literal["serve", "local"],
    workers: int,
    timeout_s: float,
    fps: float | None,
    log: Callable[[str], None],
    threads: int,
    replicas: int,
    camera_resize: tuple[int, int] | None,
    in_flight: int | None,
) -> dict[str, Any]:
    art = load_artifact(artifact)
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = bench_config(
            transport, scoring, run_id, Path(tmp), workers, threads, replicas, in_flight
        )
        log(f"run {run_id}")
        rep = replay(cfg, artifact, data, timeout_s, fps, camera_resize, log)
    got, labels = rep.got, rep.labels
    complete = published(rep, "normalized")
    smoothed = published(rep, "smoothed")
    lat = np.array([got.received_at[k] - got.scores[k]["time"] for k in got.scores])
    # The same layout as the replicas: as many models, each with the replicas' threads.
    raw = raw_throughput(artifact, data, cfg.serving.max_batch_size, replicas)
    scored = score_dataset(art, data, art.config.evaluation.batch_size)
    eval_rep, _ = report_for(
        scored, "streaming", calibrated_from_stats(art.stats, art.version), art.config, {}
    )
    return {
        "run": run_id,
        "transport": transport,
        "scoring": scoring,
        "workers": workers,
        "paced_fps": fps,
        "cameras": len(rep.expected),
        "frames": sum(rep.expected.values()),
        "frames_scored": len(got.scores),
        "windows_lost": windows_lost(rep, art),
        "micro_auc": micro_auc(complete, {k: labels[k] for k in complete}) if complete else None,
        "eval_micro_auc": eval_rep["micro_auc"],
        "fixed_micro_auc": (
            micro_auc(smoothed, {k: labels[k] for k in smoothed}) if smoothed else None
        ),
        "eval_fixed_micro_auc": eval_rep["fixed"]["micro_auc"],
        **alert_quality(got.alerts, labels),
        "frames_per_s": len(got.scores) / max(rep.t_end - rep.t0, 1e-9),
        "raw_frames_per_s": raw,
        "p50_latency_ms": float(np.percentile(lat, 50) * 1000) if lat.size else None,
        "p99_latency_ms": float(np.percentile(lat, 99) * 1000) if lat.size else None,
        "score_messages_redelivered": got.redelivered,
        "model_version": art.version,
        "model_threads": cfg.serving.threads,
        "replicas": replicas,
        "max_in_flight": cfg.worker.max_in_flight,
        "raw_models": replicas,
        "camera_resize": list(camera_resize) if camera_resize else None,
    }
