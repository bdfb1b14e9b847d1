"""One trial of a search: train a sampled config epoch by epoch and, at the epochs the
early-stopping rungs look at, calibrate, score validation and report.

``run_trial`` knows nothing about Tune: it calls ``report(metrics, artifact_dir)``, which
``search.py`` maps to ``tune.report`` with a checkpoint (and tests to a list).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamproc.config import StreamprocConfig, apply_overrides, config_from_dict
from streamproc.config.root import MODEL_SECTIONS
from streamproc.model.artifact import save_artifact
from streamproc.training.epochs import epochs_for
from trainers.data import SearchData
from trainers.loop import build_artifact, run_epochs, training_metadata
from trainers.objective import evaluate, objective_value
from trainers.space import apply_sample, plain

Report = Callable[[dict[str, Any], Path], None]


@dataclass(frozen=True)
class TrialSettings:
    base: dict[str, Any]  # the model sections of the base config, JSON-ready
    f1_weight: float = 0.0
    grace_period: int = 1  # ASHA's first rung, in epochs
    reduction_factor: int = 2
    threads: int = 1  # torch threads per trial (= CPUs reserved per trial)

    @classmethod
    def from_config(cls, cfg: StreamprocConfig, **kw: Any) -> TrialSettings:
        return cls(cfg.model_dump(mode="json", include=MODEL_SECTIONS), **kw)

    def base_config(self) -> StreamprocConfig:
        return config_from_dict(self.base, "search base config")


def report_epochs(epochs: int, grace: int, factor: int) -> set[int]:
    """Epochs to evaluate at: ASHA's rungs (grace * factor^i) and the last one. Evaluating
    only there saves a calibration and a validation pass at every other epoch."""
    out, rung = {epochs}, max(1, grace)
    while rung < epochs:
        out.add(rung)
        rung *= max(2, factor)
    return out


def run_trial(
    sample: dict[str, Any],
    data: SearchData,
    settings: TrialSettings,
    report: Report,
    trial_id: str = "trial",
) -> None:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sample = {k: plain(v) for k, v in sample.items()}
    cfg = apply_sample(settings.base_config(), sample)
    cfg = apply_overrides(cfg, {"training.threads": settings.threads})
    epochs = epochs_for(cfg, data.train)
    at = report_epochs(epochs, settings.grace_period, settings.reduction_factor)
    for end in run_epochs(cfg, data.train):
        if end.epoch not in at:
            continue
        art = build_artifact(cfg, end.model, data.calibration, end.device)
        metrics = evaluate(art, data.validation, cfg.evaluation.batch_size)
        objective = objective_value(data.objective, metrics, settings.f1_weight)
        row: dict[str, Any] = {
            "epoch": end.epoch,
            "objective": objective,
            **{f"val_{k}": v for k, v in metrics.items()},
            "loss": end.progress.history[-1]["loss"],
            "cpu_s": round(time.process_time() - cpu0, 2),
            "wall_s": round(time.perf_counter() - wall0, 2),
        }
        meta = training_metadata(
            art,
            data.root,
            data.train,
            data.calibration,
            end.progress.history,
            time.perf_counter() - wall0,
            end.device,
        )
        meta["search"] = {
            "trial_id": trial_id,
            "sample": sample,
            "objective_kind": data.objective,
            "objective": objective,
            "validation": metrics,
            "validation_clips": [c.name for c in data.validation],
        }
        with tempfile.TemporaryDirectory(prefix="streamproc-trial-") as d:
            save_artifact(art, d, meta)
            report(row, Path(d))
