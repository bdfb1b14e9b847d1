"""`streamproc run`: the whole pipeline in one process, printing alerts as they happen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from streamproc.cli.common import console, friendly_errors
from streamproc.cli.progress import training_progress
from streamproc.config import load_config

CACHE = Path.home() / ".cache" / "streamproc" / "models"


def print_alert(topic: str, payload: dict[str, Any]) -> None:
    if topic != "alerts":
        return
    colour = {"start": "bold red", "update": "yellow", "end": "green"}[payload["kind"]]
    why = f" ({payload['reason']})" if payload.get("reason") else ""
    when = time.strftime("%H:%M:%S", time.localtime(payload["start_time"]))
    console.print(
        f"[{colour}]ALERT {payload['kind']:6s}[/] camera {payload['camera']} "
        f"event {payload['event_id'][:10]} since {when} (seq {payload['start_seq']}) "
        f"score {payload['current_score']:.3g} peak {payload['peak_score']:.3g} "
        f"threshold {payload['threshold']:.3g}{why}",
        highlight=False,
    )


@friendly_errors
def run(
    config: Path | None = typer.Option(
        None, "--config", help="YAML config (cameras, transport...)."
    ),
    artifact: Path | None = typer.Option(
        None, "--artifact", help="Model artifact; default: serving.artifact, else a demo model."
    ),
    cameras: int = typer.Option(
        4, "--cameras", min=1, help="Synthetic cameras if none configured."
    ),
    duration: float | None = typer.Option(None, "--duration", min=1, help="Stop after seconds."),
    local: bool = typer.Option(False, "--local", help="Score in-process instead of Ray Serve."),
) -> None:
    """Run cameras -> windows -> model -> thresholds -> smoothing -> alerts on this machine.

    With no config: synthetic cameras, the in-process transport, the embedded state store
    and a local Ray; a small model is trained first when no artifact is given."""
    # Here, not at the top: the pipeline loads torch, Ray, Kafka and OpenCV.
    from streamproc.pipeline import Pipeline
    from streamproc.runtime.demo import demo_artifact, synthetic_cameras

    cfg = load_config(config)
    if not cfg.cameras.cameras:
        cfg.cameras.cameras = synthetic_cameras(cameras)
    if local:
        cfg.serving.mode = "local"
    art = artifact or (Path(cfg.serving.artifact) if cfg.serving.artifact else None)
    if art is None:
        art = demo_artifact(CACHE, lambda s: console.print(s), training_progress)
    names = ", ".join(c.id for c in cfg.cameras.enabled())
    console.print(
        f"starting: {len(cfg.cameras.enabled())} camera(s) ({escape(names)}), "
        f"transport {cfg.transport.type}, state {cfg.state.type}, "
        f"scoring via {cfg.serving.mode}, model {art}"
    )
    pipe = Pipeline(cfg, art, on_message=print_alert)
    pipe.start()
    started, last = time.monotonic(), 0.0
    try:
        while True:
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            if elapsed - last >= 10:
                last = elapsed
                scored = sum(w.stats.windows for w in pipe.workers)
                console.print(f"[dim]{elapsed:.0f} s: {scored} windows scored[/]")
            if duration is not None and elapsed >= duration:
                break
            if pipe.idle():
                console.print("all cameras finished and every window is scored")
                break
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        pipe.stop()
        scored = sum(w.stats.windows for w in pipe.workers)
        console.print(f"stopped after {time.monotonic() - started:.0f} s: {scored} windows scored")
