"""The optimisation loop, one epoch at a time.

``run_epochs`` is the single training loop: ``fit`` (``streamproc train``) consumes it on
one process, and the Ray Train / Tune entry points in ``trainers/`` consume it per worker,
with a data-parallel sampler and a wrapped (DDP) model. Control returns after every epoch
so callers checkpoint, report or stop early there.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from streamproc.config import StreamprocConfig
from streamproc.config.training import TrainingConfig
from streamproc.model.base import AnomalyModel, window_loss
from streamproc.model.device import pick_device
from streamproc.model.registry import build_model
from streamproc.training.checkpoint import Progress, Scheduler, load_checkpoint
from streamproc.training.data import LoadedClip, WindowDataset
from streamproc.windowing.windows import window_starts

# Called after every optimisation step: (epoch, epochs, step, steps_per_epoch, loss parts).
StepHook = Callable[[int, int, int, int, dict[str, float]], None]
MIN_EPOCHS, MAX_EPOCHS = 2, 50


def epochs_for(cfg: StreamprocConfig, clips: list[LoadedClip]) -> int:
    """The epochs ``run_epochs`` will train on ``clips`` with ``cfg``."""
    w = cfg.data.window
    windows = sum(len(window_starts(len(c.frames), w.length, w.stride)) for c in clips)
    if cfg.training.max_windows is not None:
        windows = min(windows, cfg.training.max_windows)
    return resolve_epochs(cfg.training, windows)


def resolve_epochs(t: TrainingConfig, windows: int) -> int:
    """``training.epochs``, or when it is None the passes that make ``sample_budget``."""
    if t.epochs is not None:
        return t.epochs
    return min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(t.sample_budget / max(1, windows))))


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))


def config_hash(cfg: StreamprocConfig) -> str:
    keep = cfg.model_dump(include={"data", "model", "training"})
    return hashlib.sha256(repr(keep).encode()).hexdigest()[:16]


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
    """Train ``resolve_epochs`` epochs on ``clips``, yielding after each one.

    ``restore`` is a directory holding a ``streamproc.training.checkpoint`` made with the
    same config; training continues after its last epoch."""
    t = cfg.training
    seed_everything(t.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    device = device or pick_device(t.device)
    model = build_model(cfg.model, cfg.data).to(device)
    ds = WindowDataset(clips, cfg.data, cfg.data.augment, t.max_windows, t.seed)
    epochs = resolve_epochs(t, len(ds))
    optim = torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay)
    shard = -(-len(ds) // world_size)
    steps_per_epoch = max(1, -(-shard // t.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=epochs * steps_per_epoch)
    chash = config_hash(cfg)
    progress = Progress(0, chash, [])
    if restore is not None:
        progress = load_checkpoint(restore, model, optim, sched, chash) or progress
    net = wrap(model) if wrap is not None else model
    if progress.epoch >= epochs:  # a restored run that had already finished
        yield EpochEnd(progress.epoch, model, optim, sched, progress, device)
        return
    for epoch in range(progress.epoch, epochs):
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
                on_step(epoch, epochs, step, steps, parts)
        progress.history.append({"epoch": epoch + 1, **{k: v / steps for k, v in sums.items()}})
        progress.epoch = epoch + 1
        yield EpochEnd(epoch + 1, model, optim, sched, progress, device)
