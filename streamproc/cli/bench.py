"""`streamproc bench ...`: benchmarks whose output goes into BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path

import typer

from streamproc.cli.common import console, friendly_errors
from streamproc.evaluation.benchmark import run_benchmark
from streamproc.model.registry import MODELS, get_entry

app = typer.Typer(help="Benchmarks (results go into BENCHMARKS.md).", no_args_is_help=True)


@app.command("detection")
@friendly_errors
def detection(
    data: Path = typer.Option(..., "--data", help="Labelled dataset root (e.g. UCSD Ped2)."),
    out: Path = typer.Option(Path("runs/bench-detection"), "--out", help="Artifacts and results."),
    model: list[str] = typer.Option(
        list(MODELS), "--model", help="Models to include (repeatable)."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Override every model's epochs."
    ),
    reuse: bool = typer.Option(False, "--reuse", help="Reuse artifacts already in --out."),
) -> None:
    """Train each model with default settings, evaluate under both protocols, print a table."""
    for m in model:
        get_entry(m)
    result = run_benchmark(data, out, model, epochs, reuse, log=lambda s: console.print(s))
    typer.echo((out / "table.md").read_text())
    console.print(f"results: {out / 'results.json'} ({len(result['rows'])} rows)")
