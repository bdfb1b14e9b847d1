"""The detection benchmark: each model trained with its default settings on a labelled
dataset, scored once, reported under both protocols beside the motion-energy baseline
and the numbers the seed papers claim."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamproc.config import StreamprocConfig, apply_overrides
from streamproc.errors import ArtifactError
from streamproc.evaluation.protocols import PROTOCOLS
from streamproc.evaluation.runner import ScoredDataset, report_for, score_baseline, score_dataset
from streamproc.model.artifact import Artifact, load_artifact
from streamproc.model.registry import get_entry
from streamproc.training import train

# What the sources say about UCSD Ped2 frame-level AUC (claims, not measured here).
CLAIMS = [
    ("seed 004 two-stream attention (claim)", "offline", 0.924),
    ("seed 000 attention AE, ablation table (claim, dataset unstated)", "offline", 0.903),
    ("published frame-level methods (literature range)", "offline", "0.90-0.97"),
]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def _row(
    name: str, scored: ScoredDataset, reports: dict[str, dict[str, Any]], train_s: float | None
) -> dict[str, Any]:
    s, o = reports["streaming"], reports["offline"]
    return {
        "model": name,
        "stream_micro": s["micro_auc"],
        "stream_macro": s["macro_auc"],
        "offline_micro": o["micro_auc"],
        "offline_macro": o["macro_auc"],
        "eer": s["eer"],
        "f1": s["f1"],
        "precision": s["precision"],
        "recall": s["recall"],
        "train_min": None if train_s is None else train_s / 60,
        "windows_per_s": scored.windows_per_s,
        "frames_per_s": scored.frames_per_s,
        "reports": reports,
    }


def _artifact(
    name: str, data: Path, out: Path, epochs: int | None, reuse: bool, log: Callable[[str], None]
) -> tuple[Artifact, float]:
    d = out / name
    if reuse:
        try:
            art = load_artifact(d)
            log(f"{name}: reusing artifact {art.version}")
            return art, float(art.metadata["training"]["seconds"])
        except (ArtifactError, KeyError):
            pass
    cfg = apply_overrides(StreamprocConfig(), {"model.name": name, **get_entry(name).recommended})
    if epochs is not None:
        cfg = apply_overrides(cfg, {"training.epochs": epochs})
    log(f"{name}: training {cfg.training.epochs} epochs")
    result = train(cfg, data, d)
    return result.artifact, result.seconds


def run_benchmark(
    data: Path,
    out: Path,
    models: list[str],
    epochs: int | None = None,
    reuse: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    base_cfg = StreamprocConfig()
    scored, stats = score_baseline(base_cfg, data)
    reports: dict[str, dict[str, Any]] = {
        p: report_for(scored, p, float(stats["threshold"]), base_cfg, {})[0] for p in PROTOCOLS
    }
    rows.append(_row("motion-energy baseline (no training)", scored, reports, None))
    log(f"baseline: streaming micro AUC {reports['streaming']['micro_auc']:.4f}")
    for name in models:
        art, seconds = _artifact(name, data, out, epochs, reuse, log)
        scored = score_dataset(art, data, art.config.evaluation.batch_size)
        meta = {"model": name, "version": art.version}
        reports = {p: report_for(scored, p, art.threshold, art.config, meta)[0] for p in PROTOCOLS}
        rows.append(_row(name, scored, reports, seconds))
        log(f"{name}: streaming micro AUC {reports['streaming']['micro_auc']:.4f}")
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "data": str(data),
        "rows": rows,
    }
    (out / "results.json").write_text(json.dumps(result, indent=2, default=float))
    (out / "table.md").write_text(markdown_table(result))
    return result


def _f(x: Any, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def markdown_table(result: dict[str, Any]) -> str:
    rows = result["rows"]
    base = rows[0]["stream_micro"]
    lines = [
        f"Date: {result['date']}. Machine: {result['machine']}. Data: `{result['data']}`.",
        "",
        "| model | stream micro AUC | stream macro AUC | offline micro AUC | offline macro AUC "
        "| EER (stream) | F1 (stream) | vs baseline (stream micro) | train min | windows/s "
        "| frames/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        delta = r["stream_micro"] - base
        lines.append(
            f"| {r['model']} | {_f(r['stream_micro'])} | {_f(r['stream_macro'])} "
            f"| {_f(r['offline_micro'])} | {_f(r['offline_macro'])} | {_f(r['eer'])} "
            f"| {_f(r['f1'])} | {delta:+.3f} | {_f(r['train_min'], 1)} "
            f"| {_f(r['windows_per_s'], 1)} | {_f(r['frames_per_s'], 1)} |"
        )
    for name, proto, auc in CLAIMS:
        lines.append(f"| {name} | | | {auc if proto == 'offline' else ''} | | | | | | | |")
    return "\n".join(lines) + "\n"
