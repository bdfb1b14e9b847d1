"""`streamproc ingest` and `streamproc worker`: the two roles of a distributed deployment,
each its own process (Kubernetes Deployments); `streamproc run` runs both in one."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from streamproc.cli.common import console, friendly_errors, service_logging
from streamproc.cli.run import print_alert
from streamproc.config import load_config
from streamproc.errors import ConfigError

if TYPE_CHECKING:  # the pipeline loads torch, Ray, Kafka and OpenCV: only in the commands
    from streamproc.pipeline import Pipeline


def _wait_for_signal(pipe: Pipeline) -> None:
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(1.0):
            if pipe.ingest is not None and pipe.ingest.finished and not pipe.workers:
                break
    finally:
        pipe.stop()


def _artifact(artifact: Path | None, config_artifact: str | None) -> Path:
    chosen = artifact or (Path(config_artifact) if config_artifact else None)
    if chosen is None:
        raise ConfigError("no model artifact: pass --artifact or set serving.artifact")
    return chosen


@friendly_errors
def ingest(
    config: Path = typer.Option(..., "--config", help="YAML config with cameras and transport."),
    artifact: Path | None = typer.Option(None, "--artifact", help="Artifact (for window sizes)."),
    shard: str | None = typer.Option(
        None, "--shard", help="INDEX/COUNT: serve only the cameras of this shard (e.g. 0/3)."
    ),
    from_start: bool = typer.Option(
        False,
        "--from-start",
        help="Replay finite cameras (files) from their first frame in a new session, "
        "ignoring the positions a previous ingest kept (cameras.resume).",
    ),
) -> None:
    """Read the configured cameras and produce frame windows to the frames topic."""
    from streamproc.pipeline import Pipeline

    service_logging()
    cfg = load_config(config)
    if shard:
        try:
            index, count = (int(x) for x in shard.split("/"))
            assert 0 <= index < count
        except (ValueError, AssertionError):
            raise ConfigError(
                f"--shard must be INDEX/COUNT with 0 <= INDEX < COUNT, got {shard!r}"
            ) from None
        cfg.cameras.cameras = [c for i, c in enumerate(cfg.cameras.cameras) if i % count == index]
    pipe = Pipeline(cfg, _artifact(artifact, cfg.serving.artifact), from_start=from_start)
    pipe.start(ingest=True, workers=0, scorer=False)
    console.print(f"ingest: {len(cfg.cameras.enabled())} camera(s) -> {cfg.topics.frames}")
    _wait_for_signal(pipe)


@friendly_errors
def worker(
    config: Path = typer.Option(..., "--config", help="YAML config (transport, state, serving)."),
    artifact: Path | None = typer.Option(None, "--artifact", help="Artifact (calibration)."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Worker threads."),
) -> None:
    """Consume frame windows, score them, keep thresholds, publish scores and alerts."""
    from streamproc.pipeline import Pipeline

    service_logging()
    cfg = load_config(config)
    pipe = Pipeline(cfg, _artifact(artifact, cfg.serving.artifact), on_message=print_alert)
    pipe.start(ingest=False, workers=workers)
    console.print(f"worker: {len(pipe.workers)} consumer(s) in group {cfg.worker.group}")
    _wait_for_signal(pipe)
