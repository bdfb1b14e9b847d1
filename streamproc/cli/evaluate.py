"""`streamproc eval`: score a labelled dataset with an artifact and report metrics."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError

from streamproc.cli.common import console, friendly_errors
from streamproc.config.serving import DEFAULT_ENGINE, DEFAULT_PRECISION, ServingConfig
from streamproc.errors import ConfigError, DataError


@friendly_errors
def evaluate(
    data: Path = typer.Option(..., "--data", help="Dataset root with test/ and test_labels.json."),
    artifact: Path = typer.Option(
        ..., "--artifact", help="Artifact directory from `streamproc train`."
    ),
    protocol: str = typer.Option("streaming", "--protocol", help="streaming or offline."),
    report: Path = typer.Option(..., "--report", help="JSON report to write."),
    plots: Path | None = typer.Option(
        None, "--plots", help="Folder for ROC, timelines, heatmaps, video."
    ),
    video_clip: str | None = typer.Option(
        None, "--video-clip", help="Clip for the side-by-side video."
    ),
    precision: str = typer.Option(
        DEFAULT_PRECISION,
        "--precision",
        help="The network's arithmetic, as serving.precision (auto, fp32, bf16, fp16); "
        "the default is serving.precision's, so the scores equal a default replica's.",
    ),
    engine: str = typer.Option(
        DEFAULT_ENGINE, "--engine", help="As serving.engine (eager, compile)."
    ),
) -> None:
    """Evaluate an artifact on DIR/test under one protocol."""
    # Here, not at the top: `streamproc --help` must not load torch and scikit-learn.
    from streamproc.evaluation.figures import draw_plots
    from streamproc.evaluation.protocols import PROTOCOLS, Protocol
    from streamproc.evaluation.runner import report_for, score_dataset
    from streamproc.model.artifact import load_artifact
    from streamproc.model.device import pick_device
    from streamproc.threshold.policy import calibrated_from_stats

    if protocol not in PROTOCOLS:
        raise DataError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    serving = serving_options(precision, engine)
    proto: Protocol = "streaming" if protocol == "streaming" else "offline"
    art = load_artifact(artifact)
    cfg = art.config
    with console.status("scoring test clips") as status:
        scored = score_dataset(
            art,
            data,
            cfg.evaluation.batch_size,
            str(pick_device(cfg.training.device)),
            on_clip=lambda n: status.update(f"scored clip {n}"),
            precision=serving.precision,
            engine=serving.engine,
        )
    if video_clip is not None and video_clip not in scored.labels:
        raise DataError(
            f"--video-clip {video_clip!r} is not a test clip; clips: {sorted(scored.labels)}"
        )
    meta = {"model": cfg.model.name, "version": art.version, "data": str(data)}
    rep, result = report_for(
        scored, proto, calibrated_from_stats(art.stats, art.version), cfg, meta
    )
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(rep, indent=2))
    console.print(
        f"{proto}: micro AUC [bold]{rep['micro_auc']:.4f}[/], macro AUC {rep['macro_auc']:.4f}, "
        f"EER {rep['eer']:.4f}, F1 {rep['f1']:.4f} over {rep['frames']} frames "
        f"({rep['windows_per_s']:.1f} windows/s, network {rep['model_engine']} "
        f"{rep['model_precision']}) -> {report}"
    )
    if plots is not None:
        with console.status("drawing plots"):
            paths = draw_plots(art, scored, result, plots, cfg.evaluation.heatmaps, video_clip)
        for p in paths:
            console.print(f"  plot: {p}")


def serving_options(precision: str, engine: str) -> ServingConfig:
    """--precision and --engine checked by the serving config's own rules."""
    try:
        return ServingConfig(precision=precision, engine=engine)
    except ValidationError as err:
        first = err.errors()[0]
        option = f"--{first['loc'][0]}" if first["loc"] else "--precision/--engine"
        raise ConfigError(f"{option}: {first['msg']}, got {first['input']!r}") from None
