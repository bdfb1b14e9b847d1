"""Train a model on normal footage, calibrate it on held-out clips, write the artifact."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from streamproc.config import StreamprocConfig
from streamproc.model.artifact import Artifact, save_artifact
from streamproc.model.base import AnomalyModel
from streamproc.model.calibration import calibrate
from streamproc.model.device import pick_device
from streamproc.training.checkpoint import clear_checkpoint, save_checkpoint
from streamproc.training.data import LoadedClip, load_training_data
from streamproc.training.epochs import StepHook, config_hash, run_epochs, seed_everything
from streamproc.windowing.windows import window_starts

__all__ = ["StepHook", "TrainResult", "config_hash", "fit", "seed_everything", "train"]


# Below these, the model or its calibrated threshold rests on too little footage: the
# threshold is mean + k std of held-out normal frames, and a few hundred frames (tens of
# seconds at 10 fps) are what it takes for that tail to stop moving with every clip.
MIN_TRAINING_WINDOWS = 200
MIN_CALIBRATION_FRAMES = 300


@dataclass
class TrainResult:
    artifact: Artifact
    version: str
    seconds: float
    history: list[dict[str, float]]
    warnings: list[str] = field(default_factory=list)


def count_windows(clips: list[LoadedClip], cfg: StreamprocConfig) -> int:
    w = cfg.data.window
    return sum(len(window_starts(len(c.frames), w.length, w.stride)) for c in clips)


def footage_warnings(
    train_windows: int, calibration_frames: int, held_out: bool, fps: float = 10.0
) -> list[str]:
    """What is too short about the footage, with how much more is needed."""
    out = []
    if train_windows < MIN_TRAINING_WINDOWS:
        out.append(
            f"training saw {train_windows} windows; at least {MIN_TRAINING_WINDOWS} are "
            "needed to learn a scene: add normal footage (a few minutes of video)"
        )
    if not held_out:
        out.append(
            "no footage was kept apart for calibration (training.holdout_fraction is 0): "
            "the threshold was calibrated on the training footage and will be too low"
        )
    if calibration_frames < MIN_CALIBRATION_FRAMES:
        more = (MIN_CALIBRATION_FRAMES - calibration_frames) / fps
        out.append(
            f"calibration saw {calibration_frames} held-out normal frames; at least "
            f"{MIN_CALIBRATION_FRAMES} are needed for a stable threshold: add about "
            f"{more:.0f} s of footage at {fps:g} fps (or raise training.holdout_fraction); "
            "until then the camera's adaptive threshold (threshold.mode: adaptive) has to "
            "correct it from the live stream"
        )
    return out


def fit(
    cfg: StreamprocConfig,
    train_clips: list[LoadedClip],
    out: Path | None = None,
    on_step: StepHook | None = None,
    resume: bool = True,
) -> tuple[AnomalyModel, list[dict[str, float]]]:
    """Train on one process, checkpointing into ``out`` after every epoch; with ``resume``
    a checkpoint left there by an interrupted run with the same config is continued."""
    restore = out if (out is not None and resume) else None
    last = None
    for end in run_epochs(cfg, train_clips, restore=restore, on_step=on_step):
        if out is not None:
            save_checkpoint(out, end.model, end.optim, end.sched, end.progress)
        last = end
    assert last is not None  # run_epochs always yields at least once
    return last.model, last.progress.history


def build_artifact(
    cfg: StreamprocConfig,
    model: AnomalyModel,
    calibration: list[LoadedClip],
    device: torch.device | str = "cpu",
) -> Artifact:
    """Calibrate on held-out normal clips, as ``streamproc train`` does (not yet saved)."""
    cal, stats = calibrate(
        model,
        [c.frames for c in calibration],
        cfg.data.window,
        cfg.scoring,
        cfg.evaluation.batch_size,
        device,
        cfg.training.seed,
        cfg.data.preprocess.appearance_channels,
    )
    return Artifact(cfg, model, cal, stats)


def training_metadata(
    art: Artifact,
    data: str | Path,
    train: list[LoadedClip],
    calibration: list[LoadedClip],
    history: list[dict[str, float]],
    seconds: float,
    device: torch.device | str,
) -> dict[str, Any]:
    """The ``training`` and ``metrics`` entries ``streamproc train`` writes."""
    return {
        "training": {
            "data": str(Path(data).resolve()),
            "clips": [c.name for c in train],
            "calibration_clips": [c.name for c in calibration],
            "frames": int(sum(len(c.frames) for c in train)),
            "windows": {
                "training": count_windows(train, art.config),
                "calibration": count_windows(calibration, art.config),
            },
            "calibration_frames": int(sum(len(c.frames) for c in calibration)),
            "seconds": round(seconds, 1),
            "device": str(device),
            "epochs": len(history),
        },
        "metrics": {"final_loss": history[-1] if history else {}, "calibration": art.stats},
    }


def train(
    cfg: StreamprocConfig,
    data: Path,
    out: Path,
    on_step: StepHook | None = None,
    on_clip: Callable[[str], None] | None = None,
    resume: bool = True,
) -> TrainResult:
    """Train on ``data/train``, calibrate on held-out clips, write ``out`` as an artifact."""
    start = time.perf_counter()
    t = cfg.training
    train_clips, holdout = load_training_data(data, cfg.data, t.holdout_fraction, t.seed, on_clip)
    out.mkdir(parents=True, exist_ok=True)
    model, history = fit(cfg, train_clips, out, on_step, resume)
    # Without a hold-out the calibration falls back to the training clips (optimistic).
    cal_clips = holdout or train_clips
    device = pick_device(t.device)
    art = build_artifact(cfg, model, cal_clips, device)
    art.model = art.model.cpu()
    seconds = time.perf_counter() - start
    meta = training_metadata(art, data, train_clips, cal_clips, history, seconds, device)
    warnings = footage_warnings(
        meta["training"]["windows"]["training"],
        meta["training"]["calibration_frames"],
        bool(holdout),
    )
    meta["training"]["warnings"] = warnings
    version = save_artifact(art, out, meta)
    clear_checkpoint(out)
    return TrainResult(art, version, seconds, history, warnings)
