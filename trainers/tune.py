"""Hyperparameter search as a Ray job.

    python -m trainers.tune --data DIR --search grid|evolutionary --trials N --out DIR \\
        [--store URI] [--promote] [--epochs E] [--config FILE] [--set KEY=VALUE ...]

Submitted by ``streamproc tune`` (Ray Jobs API with ``--ray-address``, a local process
otherwise). Exit code 0 when a best trial was exported, 1 when every trial failed, 2 on
bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamproc.errors import ConfigError
from streamproc.jobs import TuneArgs, add_job_args
from trainers.options import (
    EXIT_FAILED,
    EXIT_OK,
    add_config_args,
    add_ray_args,
    config_from_args,
    connect_ray,
    existing,
    main_guard,
)
from trainers.search import SearchFailedError, SearchSpec, run_search


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainers.tune", description=__doc__.split("\n")[0])
    add_job_args(p, TuneArgs)  # the options `streamproc tune` sends, declared once
    p.add_argument("--epochs", type=int, default=None, help="Override training.epochs (max_t).")
    p.add_argument("--max-windows", type=int, default=None, help="Cap training windows.")
    p.add_argument("--val-fraction", type=float, default=0.25, help="Test clips for validation.")
    p.add_argument("--cpus-per-trial", type=int, default=1)
    p.add_argument("--grace-period", type=int, default=1, help="ASHA: epochs before stopping.")
    p.add_argument("--seed", type=int, default=0, help="Seed of the evolutionary sampler.")
    add_ray_args(p)
    add_config_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    base = config_from_args(
        ns, {"training.epochs": ns.epochs, "training.max_windows": ns.max_windows}
    )
    if not 0 <= ns.f1_weight <= 1:
        raise ConfigError(f"--f1-weight must be within 0..1, got {ns.f1_weight}")
    spec = SearchSpec(
        data=existing(ns.data),
        out=_path(ns.out),
        search=ns.search,
        trials=ns.trials,
        base=base,
        objective=ns.objective,
        f1_weight=ns.f1_weight,
        val_fraction=ns.val_fraction,
        val_clips=ns.val_clips.split(",") if ns.val_clips else None,
        store=ns.store,
        name=ns.name,
        promote=ns.promote,
        concurrency=ns.concurrency,
        cpus_per_trial=ns.cpus_per_trial,
        grace_period=ns.grace_period,
        seed=ns.seed,
    )
    connect_ray(ns)
    try:
        outcome = run_search(spec, log=lambda s: print(s, flush=True))
    except SearchFailedError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    b = outcome.best
    test = b["test"] or {}
    print(
        f"best trial {b['trial']['trial_id']}: objective {b['trial']['objective']:.4f}, "
        f"val AUC {b['trial'].get('val_micro_auc', float('nan')):.4f}, "
        f"test AUC {test.get('micro_auc', float('nan')):.4f}; "
        f"{b['trials']} trials ({b['completed']} completed, {b['stopped_early']} stopped "
        f"early, {b['failed']} failed), {b['trial_cpu_minutes']:.1f} CPU-min",
        flush=True,
    )
    print(f"exported {b['model']} version {b['version']} -> {b['artifact']}", flush=True)
    for what, path in outcome.paths.items():
        print(f"  {what}: {path}", flush=True)
    return EXIT_OK


def _path(p: str) -> Path:
    return Path(p).expanduser()


if __name__ == "__main__":
    main_guard(lambda: main(sys.argv[1:]))
