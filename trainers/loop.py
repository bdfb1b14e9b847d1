"""The optimisation loop one epoch at a time, and the artifact it ends in.

``run_epochs`` follows ``streamproc.training.loop.fit`` step for step (seeding, window
order, AdamW, cosine schedule, gradient clipping), so one worker reproduces
``streamproc train`` exactly (a test holds it to that). It adds the two seams ``fit``
does not have: the model and sampler can be prepared for data-parallel workers (Ray
Train), and control returns after every epoch (Tune reports and early-stops there).
``build_artifact`` / ``training_metadata`` are the tail of ``streamproc train``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from streamproc.config import StreamprocConfig
from streamproc.model.artifact import Artifact
from streamproc.model.base import AnomalyModel, window_loss
from streamproc.model.calibration import calibrate
from streamproc.model.device import pick_device
from streamproc.model.registry import build_model
from streamproc.training.checkpoint import Progress, Scheduler, load_checkpoint
from streamproc.training.data import LoadedClip, WindowDataset
from streamproc.training.loop import StepHook, config_hash, seed_everything

# Called once on the model before training: Ray Train's ``prepare_model`` (DDP) or None.
Wrap = Callable[[nn.Module], nn.Module]


@dataclass
class EpochEnd:
    """State after a finished epoch; ``model`` is the unwrapped network. The model,
    optimiser and ``progress`` are live objects that the next epoch keeps updating."""

    epoch: int  # epochs completed
    model: AnomalyModel
    optim: torch.optim.Optimizer
    sched: Scheduler
    progress: Progress  # progress.history: mean losses of every epoch so far
    device: torch.device


def _loader(
    ds: WindowDataset, cfg: StreamprocConfig, epoch: int, world_size: int, rank: int
) -> DataLoader[torch.Tensor]:
    t = cfg.training
    if world_size == 1:  # exactly fit's loader
        g = torch.Generator().manual_seed(t.seed * 1000 + epoch)
        return DataLoader(
            ds, batch_size=t.batch_size, shuffle=True, generator=g, drop_last=len(ds) > t.batch_size
        )
    # Every rank sees an equal-sized shard (the sampler pads), so all ranks take the same
    # number of steps and DDP's gradient all-reduce never waits on a rank that finished.
    sampler: DistributedSampler[torch.Tensor] = DistributedSampler(
        ds, world_size, rank, shuffle=True, seed=t.seed
    )
    sampler.set_epoch(epoch)
    shard = sampler.num_samples
    return DataLoader(ds, batch_size=t.batch_size, sampler=sampler, drop_last=shard > t.batch_size)


def run_epochs(
    cfg: StreamprocConfig,
    clips: list[LoadedClip],
    *,
    world_size: int = 1,
    rank: int = 0,
    wrap: Wrap | None = None,
    restore: Path | None = None,
    device: torch.device | None = None,
    on_step: StepHook | None = None,
) -> Iterator[EpochEnd]:
    """Train ``cfg.training.epochs`` epochs on ``clips``, yielding after each one.

    ``restore`` is a directory holding a ``streamproc.training.checkpoint`` made with the
    same config; training continues after its last epoch."""
    t = cfg.training
    seed_everything(t.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    device = device or pick_device(t.device)
    model = build_model(cfg.model, cfg.data).to(device)
    ds = WindowDataset(clips, cfg.data, cfg.data.augment, t.max_windows, t.seed)
    optim = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    shard = -(-len(ds) // world_size)
    steps_per_epoch = max(1, -(-shard // t.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=t.epochs * steps_per_epoch)
    chash = config_hash(cfg)
    progress = Progress(0, chash, [])
    if restore is not None:
        progress = load_checkpoint(restore, model, optim, sched, chash) or progress
    net = wrap(model) if wrap is not None else model
    for epoch in range(progress.epoch, t.epochs):
        net.train()
        loader = _loader(ds, cfg, epoch, world_size, rank)
        sums: dict[str, float] = {}
        steps = len(loader)
        for step, x in enumerate(loader):
            x = x.to(device, non_blocking=True)
            loss, parts = window_loss(x, net(x), t.loss)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            optim.step()
            sched.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            if on_step:
                on_step(epoch, step, steps, parts)
        progress.history.append({"epoch": epoch + 1, **{k: v / steps for k, v in sums.items()}})
        progress.epoch = epoch + 1
        yield EpochEnd(epoch + 1, model, optim, sched, progress, device)


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
            "seconds": round(seconds, 1),
            "device": str(device),
            "epochs": art.config.training.epochs,
        },
        "metrics": {"final_loss": history[-1] if history else {}, "calibration": art.stats},
    }
