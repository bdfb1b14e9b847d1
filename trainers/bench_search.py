"""Benchmark: the default config against the best config each search finds.

    python -m trainers.bench_search --data ../shared/datasets/ucsd-ped2 --out runs/bench-search

The default config is trained once with the same epochs and window cap as every trial
and evaluated like one; then each search (grid, evolutionary) runs on a local Ray and
its best trial is evaluated on the test clips, which no trial sees. Prints a markdown
table (also OUT/bench.md, OUT/bench.json) for BENCHMARKS.md. CPU-minutes are the CPU
time of the trial processes (every torch thread counted), not wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from streamproc.config import StreamprocConfig
from streamproc.model.artifact import load_artifact
from streamproc.ray_cluster import ensure_ray
from streamproc.training.epochs import epochs_for
from trainers.data import SearchData
from trainers.objective import evaluate
from trainers.options import EXIT_OK, add_config_args, config_from_args, main_guard
from trainers.search import SEARCHES, SearchSpec, load_data, run_search
from trainers.space import SPACE, base_point
from trainers.trial import TrialSettings, run_trial


def run_default(cfg: StreamprocConfig, data: SearchData) -> dict[str, Any]:
    """Train and evaluate the base config as a trial (evaluated at the last epoch only)."""
    out: dict[str, Any] = {}

    def report(metrics: dict[str, Any], artifact_dir: Path) -> None:
        out.update(metrics)
        art = load_artifact(artifact_dir)
        out["test"] = evaluate(art, data.test, cfg.evaluation.batch_size) if data.test else None

    settings = TrialSettings.from_config(cfg, grace_period=epochs_for(cfg, data.train))
    run_trial({}, data.without_test(), settings, report, "default")
    return out


def _f(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, int | float) else "–"


def _p(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| config | trials (completed / stopped early) | val AUC | val F1 | test AUC "
        "| test F1 | CPU-min |"
    )
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['trials']} | {_f(r['val_auc'])} | {_f(r['val_f1'])} | "
            f"{_f(r['test_auc'])} | {_f(r['test_f1'])} | {r['cpu_min']:.1f} |"
        )
    return "\n".join(lines)


def params_table(default: dict[str, Any], best: dict[str, dict[str, Any]]) -> str:
    cols = list(best)
    lines = ["| parameter | default | " + " | ".join(f"best {c}" for c in cols) + " |"]
    lines.append("|---" * (2 + len(cols)) + "|")
    for d in SPACE:
        vals = [_p(best[c].get(f"param:{d.key}", "(default)")) for c in cols]
        lines.append(f"| {d.key} | {_p(default[d.key])} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trainers.bench_search", description=__doc__.split("\n")[0]
    )
    p.add_argument("--data", required=True, help="Labelled dataset root (e.g. UCSD Ped2).")
    p.add_argument("--out", default="runs/bench-search", help="Results folder.")
    p.add_argument("--search", nargs="+", choices=SEARCHES, default=list(SEARCHES))
    p.add_argument("--trials", type=int, default=8, help="Trials per search.")
    p.add_argument("--epochs", type=int, default=4, help="Epochs of every run (ASHA max_t).")
    p.add_argument("--max-windows", type=int, default=512, help="Training windows per run.")
    p.add_argument("--concurrency", type=int, default=2, help="Trials at once.")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray.")
    add_config_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    ns = parser().parse_args(argv)
    wall0 = time.perf_counter()
    cfg = config_from_args(
        ns, {"training.epochs": ns.epochs, "training.max_windows": ns.max_windows}
    )
    out = Path(ns.out)
    ensure_ray(None, ns.num_cpus)
    spec = SearchSpec(Path(ns.data), out, "grid", ns.trials, cfg, concurrency=ns.concurrency)
    print(f"loading {ns.data} ...", flush=True)
    data = load_data(spec)
    print(f"split: {data.split()}", flush=True)
    print("training the default config ...", flush=True)
    default = run_default(cfg, data)
    rows = [
        {
            "config": "default",
            "trials": "1",
            "val_auc": default["val_micro_auc"],
            "val_f1": default["val_f1"],
            "test_auc": (default["test"] or {}).get("micro_auc"),
            "test_f1": (default["test"] or {}).get("f1"),
            "cpu_min": default["cpu_s"] / 60,
        }
    ]
    best: dict[str, dict[str, Any]] = {}
    for kind in ns.search:
        s = SearchSpec(Path(ns.data), out / kind, kind, ns.trials, cfg, concurrency=ns.concurrency)
        b = run_search(s, lambda m: print(m, flush=True), data).best
        best[kind] = b["trial"]
        rows.append(
            {
                "config": f"best of {kind}",
                "trials": f"{b['trials']} ({b['completed']} / {b['stopped_early']})",
                "val_auc": b["trial"].get("val_micro_auc"),
                "val_f1": b["trial"].get("val_f1"),
                "test_auc": (b["test"] or {}).get("micro_auc"),
                "test_f1": (b["test"] or {}).get("f1"),
                "cpu_min": b["trial_cpu_minutes"],
            }
        )
    split = data.split()
    header = (
        f"Search benchmark, {time.strftime('%Y-%m-%d')}, {platform.node()} "
        f"({os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{'GPU' if torch.cuda.is_available() else 'CPU only'}); data {ns.data}; "
        f"{ns.epochs} epochs, {ns.max_windows} training windows per run; validation clips "
        f"{split['validation']}, test clips {split['test']}; streaming protocol, micro AUC; "
        f"wall {(time.perf_counter() - wall0) / 60:.1f} min.\n\n"
        f"`python -m trainers.bench_search {' '.join(argv or sys.argv[1:])}`"
    )
    text = "\n\n".join([header, table(rows), params_table(base_point(cfg), best)])
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.md").write_text(text + "\n")
    (out / "bench.json").write_text(
        json.dumps({"rows": rows, "best": best, "split": split}, indent=2, default=str)
    )
    print(text, flush=True)
    return EXIT_OK


if __name__ == "__main__":
    main_guard(lambda: main(sys.argv[1:]))
