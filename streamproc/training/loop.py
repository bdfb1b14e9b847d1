"""Train a model on normal footage, calibrate it on held-out clips, write the artifact."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from streamproc.config import StreamprocConfig
from streamproc.model.artifact import Artifact, save_artifact
from streamproc.model.base import AnomalyModel, window_loss
from streamproc.model.calibration import calibrate
from streamproc.model.device import pick_device
from streamproc.model.registry import build_model
from streamproc.training.checkpoint import (
    Progress,
    clear_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from streamproc.training.data import LoadedClip, WindowDataset, load_training_data

# Called after every optimisation step: (epoch, step, steps_per_epoch, loss parts).
StepHook = Callable[[int, int, int, dict[str, float]], None]


@dataclass
class TrainResult:
    artifact: Artifact
    version: str
    seconds: float
    history: list[dict[str, float]]


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def config_hash(cfg: StreamprocConfig) -> str:
    keep = cfg.model_dump(include={"data", "model", "training"})
    return hashlib.sha256(repr(keep).encode()).hexdigest()[:16]


def fit(
    cfg: StreamprocConfig,
    train_clips: list[LoadedClip],
    out: Path | None = None,
    on_step: StepHook | None = None,
    resume: bool = True,
) -> tuple[AnomalyModel, list[dict[str, float]]]:
    """The optimisation loop alone (Ray Train wraps this same function per worker)."""
    t = cfg.training
    seed_everything(t.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    device = pick_device(t.device)
    model = build_model(cfg.model, cfg.data).to(device)
    ds = WindowDataset(train_clips, cfg.data, cfg.data.augment, t.max_windows, t.seed)
    optim = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    steps_per_epoch = max(1, -(-len(ds) // t.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=t.epochs * steps_per_epoch)
    chash = config_hash(cfg)
    progress = Progress(0, chash, [])
    if out is not None and resume:
        progress = load_checkpoint(out, model, optim, sched, chash) or progress
    for epoch in range(progress.epoch, t.epochs):
        model.train()
        g = torch.Generator().manual_seed(t.seed * 1000 + epoch)
        loader = DataLoader(
            ds, batch_size=t.batch_size, shuffle=True, generator=g, drop_last=len(ds) > t.batch_size
        )
        sums: dict[str, float] = {}
        steps = len(loader)
        for step, x in enumerate(loader):
            x = x.to(device, non_blocking=True)
            loss, parts = window_loss(x, model(x), cfg.training.loss)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optim.step()
            sched.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if on_step:
                on_step(epoch, step, steps, parts)
        progress.history.append({"epoch": epoch + 1, **{k: v / steps for k, v in sums.items()}})
        progress.epoch = epoch + 1
        if out is not None:
            save_checkpoint(out, model, optim, sched, progress)
    return model, progress.history


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
    cal, stats = calibrate(
        model,
        [c.frames for c in cal_clips],
        cfg.data.window,
        cfg.scoring,
        cfg.evaluation.batch_size,
        device,
        t.seed,
        cfg.data.preprocess.appearance_channels,
    )
    seconds = time.perf_counter() - start
    art = Artifact(cfg, model.cpu(), cal, stats)
    meta = {
        "training": {
            "data": str(Path(data).resolve()),
            "clips": [c.name for c in train_clips],
            "calibration_clips": [c.name for c in cal_clips],
            "frames": int(sum(len(c.frames) for c in train_clips)),
            "seconds": round(seconds, 1),
            "device": str(device),
            "epochs": t.epochs,
        },
        "metrics": {"final_loss": history[-1] if history else {}, "calibration": stats},
    }
    version = save_artifact(art, out, meta)
    clear_checkpoint(out)
    return TrainResult(art, version, seconds, history)
