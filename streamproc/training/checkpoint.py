"""Per-epoch checkpoints so an interrupted ``streamproc train`` resumes where it stopped.

Weights go to safetensors; the optimizer state is a plain tensor dict read back with
``weights_only=True``, so resuming never unpickles arbitrary objects."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CHECKPOINT_DIR = ".checkpoint"


@dataclass
class Progress:
    epoch: int  # epochs completed
    config_hash: str
    history: list[dict[str, float]]


Scheduler = torch.optim.lr_scheduler.LRScheduler


def save_checkpoint(
    out: Path, model: nn.Module, optim: torch.optim.Optimizer, sched: Scheduler, progress: Progress
) -> None:
    d = out / CHECKPOINT_DIR
    tmp = out / (CHECKPOINT_DIR + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        str(tmp / "model.safetensors"),
    )
    torch.save({"optim": optim.state_dict(), "sched": sched.state_dict()}, tmp / "optim.pt")
    (tmp / "progress.json").write_text(json.dumps(progress.__dict__))
    if d.exists():
        shutil.rmtree(d)
    tmp.rename(d)  # a crash mid-write leaves the previous checkpoint intact


def load_checkpoint(
    out: Path, model: nn.Module, optim: torch.optim.Optimizer, sched: Scheduler, config_hash: str
) -> Progress | None:
    """Restore the last checkpoint if it was made with the same config, else None."""
    d = out / CHECKPOINT_DIR
    if not (d / "progress.json").exists():
        return None
    progress = Progress(**json.loads((d / "progress.json").read_text()))
    if progress.config_hash != config_hash:
        return None
    model.load_state_dict(load_file(str(d / "model.safetensors")))
    states = torch.load(d / "optim.pt", weights_only=True)
    optim.load_state_dict(states["optim"])
    sched.load_state_dict(states["sched"])
    return progress


def clear_checkpoint(out: Path) -> None:
    shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)
