"""`streamproc train`: train a model on normal footage and write an artifact."""

from __future__ import annotations

from pathlib import Path

import typer

from streamproc import jobs
from streamproc.cli.common import console, friendly_errors, resolve_config
from streamproc.cli.progress import training_progress


@friendly_errors
def train(
    data: Path = typer.Option(
        ..., "--data", help="Dataset root (uses DIR/train) or one camera's footage."
    ),
    model: str = typer.Option(
        "attention-ae", "--model", help="attention-ae, conv3d-ae or convlstm-ae."
    ),
    out: Path = typer.Option(..., "--out", help="Artifact directory to write."),
    config: Path | None = typer.Option(None, "--config", help="YAML config file."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override training.epochs."),
    seed: int | None = typer.Option(None, "--seed", help="Override training.seed."),
    max_windows: int | None = typer.Option(
        None, "--max-windows", min=1, help="Cap training windows."
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="Ignore a checkpoint left by an interrupted run."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Run as a Ray Train job on this cluster (http://HEAD:8265)."
    ),
    ray_token_file: Path | None = typer.Option(
        None, "--ray-token-file", help="The cluster's auth token (default: RAY_AUTH_TOKEN...)."
    ),
) -> None:
    """Train on DIR/train, calibrate on held-out clips, write the artifact to --out.

    An interrupted run resumes from its last finished epoch when started again with the
    same settings."""
    cfg = resolve_config(
        config,
        model,
        {
            "training.epochs": epochs,
            "training.seed": seed,
            "training.max_windows": max_windows,
        },
    )
    if ray_address:
        job = jobs.training_job(cfg, data, out, remote=True)
        raise typer.Exit(jobs.run_job(job, ray_address, token_file=ray_token_file))
    from streamproc.training import train as run_training  # torch: only when training here

    console.print(f"training [bold]{cfg.model.name}[/] on {data} -> {out}")
    with training_progress() as (on_step, on_clip):
        result = run_training(cfg, data, out, on_step, on_clip, resume=not fresh)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    stats = result.artifact.stats
    console.print(
        f"[green]wrote[/] {out} version [bold]{result.version}[/] "
        f"in {result.seconds / 60:.1f} min; "
        f"calibrated threshold {stats['threshold']:.5g} (normal mean {stats['mean']:.5g}, "
        f"std {stats['std']:.5g})"
    )
