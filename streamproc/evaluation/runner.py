"""Evaluate a model artifact (or the motion-energy baseline) on a labelled dataset:
score every test clip once, then apply a protocol, report metrics and draw plots."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streamproc.config import StreamprocConfig
from streamproc.config.alerts import AlertsConfig
from streamproc.config.serving import DEFAULT_ENGINE, DEFAULT_PRECISION
from streamproc.config.threshold import ThresholdConfig
from streamproc.evaluation.baseline import BASELINE_PATCH, baseline_preprocess, baseline_raw
from streamproc.evaluation.protocols import Protocol, ProtocolResult, RawScores, run_protocol
from streamproc.model.artifact import Artifact
from streamproc.model.calibration import score_stats
from streamproc.model.clip import score_clip
from streamproc.model.device import PrecisionSetting, resolve_precision
from streamproc.model.engine import Engine
from streamproc.sources.dataset import Clip, open_split
from streamproc.sources.frames import read_frames
from streamproc.threshold.policy import Calibrated, Policy
from streamproc.windowing.preprocess import preprocess_clip


@dataclass
class ScoredDataset:
    raw: dict[str, RawScores]
    labels: dict[str, np.ndarray]
    clips: list[Clip]
    windows: int = 0
    frames: int = 0
    model_seconds: float = 0.0  # scoring windows only
    total_seconds: float = 0.0  # decoding + preprocessing + scoring
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.model_seconds if self.model_seconds else float("nan")

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.total_seconds if self.total_seconds else float("nan")


def score_dataset(
    art: Artifact,
    data: Path,
    batch: int,
    device: str = "cpu",
    on_clip: Callable[[str], None] | None = None,
    precision: PrecisionSetting = DEFAULT_PRECISION,
    engine: Engine = DEFAULT_ENGINE,
) -> ScoredDataset:
    """Score every test clip of ``data`` with the artifact's model, in the arithmetic a
    replica with the same ``serving.precision`` and ``engine`` uses on this device (by
    default the serving config's defaults, so that `streamproc eval` and the benchmarks'
    eval scores equal what a default pipeline publishes; ``extra``: the resolved
    ``model_precision`` and the ``model_engine``, which the reports carry)."""
    clips = open_split(data, "test", require_labels=True)
    resolved = resolve_precision(precision, device)
    scorer = art.scorer(device, resolved, engine)
    out = ScoredDataset({}, {}, clips, extra={"model_precision": resolved, "model_engine": engine})
    for clip in clips:
        t0 = time.perf_counter()
        frames = preprocess_clip(read_frames(clip.path), art.config.data.preprocess)
        t1 = time.perf_counter()
        cs = score_clip(scorer, frames, art.config.data.window, batch, clip.name)
        t2 = time.perf_counter()
        out.raw[clip.name] = RawScores(cs.streaming(), cs.offline())
        assert clip.labels is not None  # require_labels=True
        out.labels[clip.name] = clip.labels
        out.windows += len(cs.starts)
        out.frames += cs.n_frames
        out.model_seconds += t2 - t1
        out.total_seconds += t2 - t0
        if on_clip:
            on_clip(clip.name)
    return out


def score_baseline(
    cfg: StreamprocConfig,
    data: Path,
    on_clip: Callable[[str], None] | None = None,
    kind: str = "frame difference",
) -> tuple[ScoredDataset, dict[str, Any]]:
    """A training-free baseline (``baseline.BASELINES``) on every test clip, calibrated
    on the training clips."""
    pre = baseline_preprocess(cfg.data.preprocess, kind)
    patch = BASELINE_PATCH
    train = [
        baseline_raw(preprocess_clip(read_frames(c.path), pre), patch).streaming
        for c in open_split(data, "train")
    ]
    stats = score_stats(np.concatenate(train), cfg.scoring)
    clips = open_split(data, "test", require_labels=True)
    out = ScoredDataset({}, {}, clips)
    for clip in clips:
        t0 = time.perf_counter()
        frames = preprocess_clip(read_frames(clip.path), pre)
        t1 = time.perf_counter()
        out.raw[clip.name] = baseline_raw(frames, patch)
        t2 = time.perf_counter()
        assert clip.labels is not None
        out.labels[clip.name] = clip.labels
        out.frames += len(frames)
        out.windows += len(frames)
        out.model_seconds += t2 - t1
        out.total_seconds += t2 - t0
        if on_clip:
            on_clip(clip.name)
    return out, stats


def eval_policy(cfg: StreamprocConfig) -> Policy:
    """What a worker with the default deployment settings decides with, using the
    artifact's own smoothing: the streaming protocol's policy."""
    return Policy(ThresholdConfig(), cfg.smoothing, AlertsConfig())


def report_for(
    scored: ScoredDataset,
    protocol: Protocol,
    cal: Calibrated,
    cfg: StreamprocConfig,
    meta: dict[str, Any],
    policy: Policy | None = None,
) -> tuple[dict[str, Any], ProtocolResult]:
    """Run ``protocol`` on scored clips; ``cal`` is the calibration the scores are judged
    against (an artifact's or a baseline's), ``policy`` defaults to ``eval_policy``."""
    policy = policy or eval_policy(cfg)
    result = run_protocol(protocol, scored.raw, scored.labels, cal, policy, cfg.evaluation)
    report: dict[str, Any] = {
        "protocol": protocol,
        **meta,
        **result.report,
        "calibrated_threshold": cal.mean + cal.k * cal.std,
        "windows": scored.windows,
        **scored.extra,
        "windows_per_s": round(scored.windows_per_s, 2),
        "frames_per_s": round(scored.frames_per_s, 2),
        "scoring": cfg.scoring.method,
        "smoothing": cfg.smoothing.model_dump(),
    }
    return report, result
