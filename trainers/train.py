"""Data-parallel training as a Ray job; writes the artifact ``streamproc train`` writes.

    python -m trainers.train --data DIR --out ARTIFACT [--workers N] [--gpu] \\
        [--epochs E] [--seed S] [--max-windows W] [--store URI] [--config FILE] ...

Submitted by ``streamproc train --ray-address ADDR``. ``--workers 0`` (default) picks one
worker per GPU when the cluster has GPUs, else 2 CPU workers (fewer on a smaller Ray).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ray

from streamproc.model.store import ModelStore
from trainers.distributed import train_distributed
from trainers.options import (
    EXIT_OK,
    add_config_args,
    add_ray_args,
    config_from_args,
    connect_ray,
    existing,
    main_guard,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainers.train", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="Dataset root (uses DIR/train) or footage.")
    p.add_argument("--out", required=True, help="Artifact directory to write.")
    p.add_argument("--workers", type=int, default=0, help="Ray Train workers (0 = auto).")
    p.add_argument("--gpu", action=argparse.BooleanOptionalAction, default=None,
                   help="Train on GPUs (default: when the cluster has any).")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None, help="Override training.epochs.")
    p.add_argument("--seed", type=int, default=None, help="Override training.seed.")
    p.add_argument("--max-windows", type=int, default=None, help="Cap training windows.")
    p.add_argument("--store", default=None, help="Also export the artifact into this store.")
    add_ray_args(p)
    add_config_args(p)
    return p


def auto_workers(workers: int, use_gpu: bool | None) -> tuple[int, bool]:
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    gpu = bool(gpus) if use_gpu is None else use_gpu
    if workers <= 0:
        workers = gpus if gpu else max(1, min(2, cpus))
    return workers, gpu


def main(argv: list[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    cfg = config_from_args(
        ns,
        {
            "training.epochs": ns.epochs,
            "training.seed": ns.seed,
            "training.max_windows": ns.max_windows,
        },
    )
    data = existing(ns.data)
    connect_ray(ns)
    workers, gpu = auto_workers(ns.workers, ns.gpu)
    out = Path(ns.out).expanduser()
    result = train_distributed(cfg, data, out, workers, gpu)
    stats = result.artifact.stats
    print(
        f"wrote {out} version {result.version} in {result.seconds / 60:.1f} min "
        f"({workers} worker(s){', GPU' if gpu else ''}); calibrated threshold "
        f"{stats['threshold']:.5g}",
        flush=True,
    )
    if ns.store:
        stored = ModelStore(ns.store).export(out)
        print(f"exported {stored.name} version {stored.version} -> {stored.uri}", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    main_guard(lambda: main(sys.argv[1:]))
