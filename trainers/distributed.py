"""Data-parallel training with Ray Train's ``TorchTrainer``, ending in the same artifact
``streamproc train`` writes.

The driver loads and preprocesses the clips once and puts them in the object store;
each worker trains on its shard of the windows (``DistributedSampler``) with gradients
all-reduced by DDP (gloo on CPU, NCCL on GPU). Rank 0 reports a checkpoint every epoch
(``streamproc.training.checkpoint`` layout), so a failed worker group restarts from the
last epoch. The driver then calibrates on the held-out clips and saves the artifact.
With one worker the run reproduces ``streamproc train`` exactly.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import ray
import ray.train
import ray.train.torch
from safetensors.torch import load_file

from streamproc.config import StreamprocConfig, config_from_dict
from streamproc.config.root import MODEL_SECTIONS
from streamproc.model.artifact import save_artifact
from streamproc.model.device import pick_device
from streamproc.model.registry import build_model
from streamproc.training.checkpoint import CHECKPOINT_DIR, Progress, save_checkpoint
from streamproc.training.data import LoadedClip, load_training_data
from streamproc.training.loop import TrainResult
from trainers.loop import build_artifact, run_epochs, training_metadata

RUN_DIR = ".ray-train"  # Ray Train's run folder inside OUT, removed after success


def worker_loop(config: dict[str, Any]) -> None:
    """What every Ray Train worker runs."""
    cfg = config_from_dict(config["config"], "train_loop_config")
    clips: list[LoadedClip] = ray.get(config["clips"])
    ctx = ray.train.get_context()
    world, rank = ctx.get_world_size(), ctx.get_world_rank()
    wrap = ray.train.torch.prepare_model if world > 1 else None
    restore = ray.train.get_checkpoint()
    with restore.as_directory() if restore is not None else nullcontext(None) as rdir:
        epochs = run_epochs(
            cfg,
            clips,
            world_size=world,
            rank=rank,
            wrap=wrap,
            restore=Path(rdir) if rdir else None,
            device=ray.train.torch.get_device(),
        )
        for end in epochs:
            metrics = {"epoch": end.epoch, **end.progress.history[-1]}
            with tempfile.TemporaryDirectory(prefix="streamproc-train-") as d:
                checkpoint = None
                if rank == 0:  # every rank holds the same weights after the all-reduce
                    save_checkpoint(Path(d), end.model, end.optim, end.sched, end.progress)
                    checkpoint = ray.train.Checkpoint.from_directory(d)
                ray.train.report(metrics, checkpoint=checkpoint)


def train_distributed(
    cfg: StreamprocConfig,
    data: Path,
    out: Path,
    workers: int,
    use_gpu: bool = False,
    log: Any = print,
) -> TrainResult:
    """Train with ``workers`` Ray Train workers, calibrate, write the artifact to ``out``."""
    start = time.perf_counter()
    t = cfg.training
    train_clips, holdout = load_training_data(data, cfg.data, t.holdout_fraction, t.seed)
    out.mkdir(parents=True, exist_ok=True)
    log(f"{len(train_clips)} training clips, {len(holdout)} held out; {workers} worker(s)")
    trainer = ray.train.torch.TorchTrainer(
        worker_loop,
        train_loop_config={
            "config": cfg.model_dump(mode="json", include=MODEL_SECTIONS),
            "clips": ray.put(train_clips),
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=workers, use_gpu=use_gpu, resources_per_worker={"CPU": 1}
        ),
        run_config=ray.train.RunConfig(
            name="train",
            storage_path=str((out / RUN_DIR).resolve()),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=1),
            failure_config=ray.train.FailureConfig(max_failures=1),
        ),
    )
    result = trainer.fit()
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train finished without a checkpoint: {result.error}")
    model = build_model(cfg.model, cfg.data)
    with result.checkpoint.as_directory() as d:
        ckpt = Path(d) / CHECKPOINT_DIR
        model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
        progress = Progress(**json.loads((ckpt / "progress.json").read_text()))
    device = pick_device(t.device)
    cal_clips = holdout or train_clips  # as streamproc train: optimistic without a hold-out
    art = build_artifact(cfg, model.to(device), cal_clips, device)
    seconds = time.perf_counter() - start
    meta = training_metadata(art, data, train_clips, cal_clips, progress.history, seconds, device)
    meta["training"]["ray_train"] = {"workers": workers, "use_gpu": use_gpu}
    version = save_artifact(art, out, meta)
    shutil.rmtree(out / RUN_DIR, ignore_errors=True)
    return TrainResult(art, version, seconds, progress.history)
