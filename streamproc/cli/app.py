"""The `streamproc` command."""

from __future__ import annotations

import os

import typer

from streamproc.cli import alerts_cmd, bench, camera_cmd, config_cmd, serve_cmd
from streamproc.cli.evaluate import evaluate
from streamproc.cli.roles import ingest, worker
from streamproc.cli.run import run
from streamproc.cli.train import train
from streamproc.cli.tune import app as tune_app
from streamproc.model.registry import MODELS
from streamproc.redaction import redact_logs
from streamproc.verbosity import VERBOSE_ENV

redact_logs()  # no log line of the CLI shows a URL's password

app = typer.Typer(
    help="streamproc: multi-camera video anomaly detection.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("train")(train)
app.command("eval")(evaluate)
app.command("run")(run)
app.command("ingest")(ingest)
app.command("worker")(worker)
app.add_typer(serve_cmd.app, name="serve")
app.add_typer(camera_cmd.app, name="camera")
app.add_typer(alerts_cmd.app, name="alerts")
app.add_typer(config_cmd.app, name="config")
app.add_typer(bench.app, name="bench")
app.add_typer(tune_app)  # `tune` and the `model` group (streamproc/cli/tune.py)


@app.callback()
def options(
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="Also show Ray's and Serve's own INFO and WARNING lines "
        "(same as STREAMPROC_VERBOSE=1; STREAMPROC_LOG_LEVEL=DEBUG implies it).",
    ),
) -> None:
    """streamproc: multi-camera video anomaly detection."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"  # inherited by the Ray processes and jobs started


@app.command("models")
def models() -> None:
    """List the models that `--model` accepts."""
    for name, entry in MODELS.items():
        typer.echo(f"{name:14s} {entry.summary}")


def main() -> None:
    app()
