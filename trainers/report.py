"""A search's results table (CSV and JSON) and the plot of its objective over trials."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: jobs run headless
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

# Leading columns of the table; parameter columns (``param:<key>``) follow.
COLUMNS = (
    "trial",
    "trial_id",
    "search",
    "status",
    "epochs",
    "objective",
    "val_micro_auc",
    "val_f1",
    "val_normal_mse",
    "cpu_s",
    "wall_s",
)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_table(rows: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    """``results.csv`` and ``results.json`` in ``out``; one row per trial."""
    out.mkdir(parents=True, exist_ok=True)
    params = sorted({k for r in rows for k in r if k.startswith("param:")})
    extra = sorted({k for r in rows for k in r} - set(COLUMNS) - set(params))
    columns = [*COLUMNS, *extra, *params]
    csv_path, json_path = out / "results.csv", out / "results.json"
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _clean(r.get(k)) for k in columns})
    json_path.write_text(json.dumps([{k: _clean(v) for k, v in r.items()} for r in rows], indent=2))
    return csv_path, json_path


def plot_objective(rows: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Each trial's best objective in launch order, early-stopped trials hollow, and
    the best so far as a step line."""
    done = [r for r in rows if r.get("objective") is not None]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    if done:
        x = [r["trial"] for r in done]
        y = [float(r["objective"]) for r in done]
        full = [r.get("status") == "completed" for r in done]
        styles = ((True, "completed", "tab:blue"), (False, "stopped early", "none"))
        for keep, label, face in styles:
            pts = [(a, b) for a, b, f in zip(x, y, full, strict=True) if f == keep]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.scatter(xs, ys, label=label, facecolors=face, edgecolors="tab:blue")
        best, run = [], -math.inf
        for v in y:
            run = max(run, v)
            best.append(run)
        ax.step(x, best, where="post", color="tab:green", label="best so far")
        ax.legend(loc="best", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (launch order)")
    ax.set_ylabel("objective (validation)")
    ax.set_title(title or "objective over trials", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
