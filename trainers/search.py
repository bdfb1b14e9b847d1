"""Hyperparameter search with Ray Tune: a factorial grid or an evolutionary search
(Optuna's NSGA-II genetic sampler through Tune's ``OptunaSearch``, seeded with the base
config), ASHA early stopping of poor trials, then the best trial's artifact exported
into a model store with the results table and the objective plot.

    OUT/results.csv, results.json   one row per trial (params, status, objective, CPU)
    OUT/objective.png               objective over trials
    OUT/best.json                   best trial: params, validation and test metrics, version
    OUT/best/                       the best trial's artifact
    OUT/ray/                        Tune's experiment folder (trial checkpoints)

The caller connects Ray first (``streamproc.ray_cluster.ensure_ray``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from streamproc.config import StreamprocConfig
from streamproc.errors import StreamprocError
from streamproc.model.artifact import load_artifact
from streamproc.model.store import ModelStore, StoredVersion
from streamproc.training.epochs import epochs_for
from trainers.data import SearchData, load_search_data
from trainers.objective import evaluate
from trainers.report import plot_objective, write_table
from trainers.sampler import NSGAIISampler
from trainers.space import base_point, evolutionary_space, grid_space
from trainers.trial import TrialSettings, run_trial

SearchKind = Literal["grid", "evolutionary"]
SEARCHES: tuple[SearchKind, ...] = ("grid", "evolutionary")
Log = Callable[[str], None]


class SearchFailedError(StreamprocError):
    """No trial of a search produced a result."""


@dataclass
class SearchSpec:
    data: Path
    out: Path
    search: SearchKind
    trials: int
    base: StreamprocConfig
    objective: Literal["auto", "auc", "label-free"] = "auto"
    f1_weight: float = 0.0
    val_fraction: float = 0.25
    val_clips: list[str] | None = None
    store: str | None = None  # None = OUT/store
    name: str | None = None  # model name in the store; None = the model's registry name
    promote: bool = False
    concurrency: int = 2
    cpus_per_trial: int = 1
    grace_period: int = 1
    reduction_factor: int = 2
    seed: int = 0


@dataclass
class SearchOutcome:
    rows: list[dict[str, Any]]
    best: dict[str, Any]
    artifact: Path
    stored: StoredVersion
    paths: dict[str, Path] = field(default_factory=dict)


def _trainable(config: dict[str, Any], data: SearchData, settings: TrialSettings) -> None:
    def report(metrics: dict[str, Any], artifact_dir: Path) -> None:
        # Tune persists the checkpoint before report returns, so the folder may go after.
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(artifact_dir)))

    run_trial(config, data, settings, report, tune.get_context().get_trial_id())


class _LogTrials(tune.Callback):
    """One line per trial report: readable in `ray job logs`, unlike Tune's tables."""

    def __init__(self, log: Log) -> None:
        self.log = log

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **_: Any
    ) -> None:
        f = {k: _fmt(result.get(k)) for k in ("objective", "val_micro_auc", "val_f1")}
        self.log(
            f"trial {trial.trial_id} epoch {result.get('epoch')}: objective {f['objective']} "
            f"(val AUC {f['val_micro_auc']}, F1 {f['val_f1']})"
        )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **_: Any) -> None:
        self.log(f"trial {trial.trial_id} failed: see {trial.path}")


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, int | float) else "n/a"


def build_tuner(spec: SearchSpec, data: SearchData, log: Log) -> tune.Tuner:
    # Every report carries a checkpoint and num_to_keep=1 forces a state snapshot each
    # time, which Tune warns about at every report; at this trial size it costs ~10 ms.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    settings = TrialSettings.from_config(
        spec.base,
        f1_weight=spec.f1_weight,
        grace_period=spec.grace_period,
        reduction_factor=spec.reduction_factor,
        threads=spec.cpus_per_trial,
    )
    trainable = tune.with_resources(
        tune.with_parameters(_trainable, data=data.without_test(), settings=settings),
        {"cpu": spec.cpus_per_trial},
    )
    epochs = epochs_for(spec.base, data.train)
    scheduler = ASHAScheduler(
        time_attr="epoch",
        max_t=epochs,
        grace_period=min(spec.grace_period, epochs),
        reduction_factor=spec.reduction_factor,
    )
    if spec.search == "grid":
        space, search_alg, samples = grid_space(spec.trials), None, 1
    else:
        # NSGA-II is a genetic algorithm (selection, crossover, mutation) over every kind
        # of dimension; its first generation is random, then it breeds from the best.
        sampler = NSGAIISampler(population_size=max(2, min(16, spec.trials // 3)), seed=spec.seed)
        search_alg = OptunaSearch(sampler=sampler, points_to_evaluate=[base_point(spec.base)])
        space, samples = evolutionary_space(), spec.trials
    return tune.Tuner(
        trainable,
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="objective",
            mode="max",
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=samples,
            max_concurrent_trials=spec.concurrency,
        ),
        run_config=tune.RunConfig(
            name=f"{spec.search}-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=str((spec.out / "ray").resolve()),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=1,
                checkpoint_score_attribute="objective",
                checkpoint_score_order="max",
            ),
            callbacks=[_LogTrials(log)],
            verbose=0,
        ),
    )


# Tune names a trial's folder _trainable_<trial id>_<launch index>_<params>_<time>.
TRIAL_DIR = re.compile(r"_trainable_([0-9a-f]+(?:_\d{5})?)_(\d+)_")


def _launch_order(result: tune.Result) -> int:
    m = TRIAL_DIR.match(Path(result.path).name)
    return int(m.group(2)) if m else 1 << 30


def _row(i: int, result: tune.Result, search: str, epochs: int) -> dict[str, Any]:
    row: dict[str, Any] = {"trial": i, "trial_id": Path(result.path).name, "search": search}
    row.update({f"param:{k}": v for k, v in (result.config or {}).items()})
    df = result.metrics_dataframe
    if df is None or "objective" not in df or df["objective"].isna().all():
        row["status"] = "error" if result.error else "no result"
        return row
    best = df.loc[df["objective"].idxmax()]
    last = df.iloc[-1]
    row.update(
        {
            "trial_id": str(last.get("trial_id", row["trial_id"])),
            "status": "error"
            if result.error
            else ("completed" if int(last["epoch"]) >= epochs else "stopped early"),
            "epochs": int(last["epoch"]),
            "best_epoch": int(best["epoch"]),
            "objective": float(best["objective"]),
            "cpu_s": float(last["cpu_s"]),
            "wall_s": float(last["wall_s"]),
        }
    )
    row.update({k: _num(best[k]) for k in best.index if str(k).startswith("val_")})
    return row


def _num(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load_data(spec: SearchSpec) -> SearchData:
    base = spec.base
    return load_search_data(
        spec.data,
        base.data,
        base.training.holdout_fraction,
        base.training.seed,
        spec.objective,
        spec.val_fraction,
        spec.val_clips,
    )


def run_search(spec: SearchSpec, log: Log = print, data: SearchData | None = None) -> SearchOutcome:
    """Run the search and export its best trial; ``data`` reuses clips already loaded
    (with the same preprocessing and split)."""
    cpu0 = time.process_time()
    base = spec.base
    if data is None:
        log(f"loading {spec.data} ...")
        data = load_data(spec)
    split = data.split()
    log(
        f"objective: {data.objective}; validation clips {split['validation']}, "
        f"test clips {split['test'] or 'none (no labels)'}"
    )
    grid = build_tuner(spec, data, log).fit()
    results = sorted((grid[i] for i in range(len(grid))), key=_launch_order)
    epochs = epochs_for(base, data.train)
    rows = [_row(i, r, spec.search, epochs) for i, r in enumerate(results)]
    spec.out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = write_table(rows, spec.out)
    png = plot_objective(
        rows, spec.out / "objective.png", f"{spec.search} search: {data.objective}"
    )
    scored = [(r, row) for r, row in zip(results, rows, strict=True) if "objective" in row]
    if not scored:
        raise SearchFailedError(
            f"all {len(rows)} trials failed; see {json_path} and the trial logs under "
            f"{spec.out / 'ray'}"
        )
    best_result, best_row = max(scored, key=lambda p: p[1]["objective"])
    ckpt = best_result.get_best_checkpoint("objective", "max") or best_result.checkpoint
    assert ckpt is not None  # a trial with an objective reported a checkpoint with it
    best_dir = spec.out / "best"
    shutil.rmtree(best_dir, ignore_errors=True)
    with ckpt.as_directory() as d:
        shutil.copytree(d, best_dir)
    art = load_artifact(best_dir)
    test = evaluate(art, data.test, art.config.evaluation.batch_size) if data.test else None
    store = ModelStore(spec.store or spec.out / "store")
    stored = store.export(best_dir, spec.name)
    if spec.promote:
        store.promote(stored.name, stored.version)
    best = {
        "search": spec.search,
        "objective_kind": data.objective,
        "f1_weight": spec.f1_weight,
        "trial": best_row,
        "test": test,
        "split": split,
        "model": stored.name,
        "version": stored.version,
        "store": store.uri,
        "artifact": stored.uri,
        "promoted": spec.promote,
        "trials": len(rows),
        "completed": sum(r.get("status") == "completed" for r in rows),
        "stopped_early": sum(r.get("status") == "stopped early" for r in rows),
        "failed": sum(r.get("status") in ("error", "no result") for r in rows),
        "trial_cpu_minutes": round(sum(r.get("cpu_s") or 0.0 for r in rows) / 60, 3),
        "driver_cpu_minutes": round((time.process_time() - cpu0) / 60, 3),
    }
    (spec.out / "best.json").write_text(json.dumps(best, indent=2, default=str))
    paths = {"csv": csv_path, "json": json_path, "png": png, "best": spec.out / "best.json"}
    return SearchOutcome(rows, best, best_dir, stored, paths)
