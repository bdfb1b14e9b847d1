"""`streamproc serve ...`: the Serve config file the project, its tests and the Helm
chart all deploy."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from streamproc.cli.common import console, friendly_errors
from streamproc.config import load_config

app = typer.Typer(help="Ray Serve deployment of the model.", no_args_is_help=True)


@app.command("config")
@friendly_errors
def config(
    artifact: str = typer.Option(..., "--artifact", help="Artifact path as the replicas see it."),
    config: Path | None = typer.Option(
        None, "--config", help="streamproc config (serving section)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write here instead of stdout."),
) -> None:
    """Print the standard Serve config file (`serve deploy FILE`, RayService serveConfigV2)."""
    from streamproc.serving.app import serve_config  # Ray Serve: only in this command

    text = yaml.safe_dump(serve_config(load_config(config).serving, artifact), sort_keys=False)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text)
        console.print(f"wrote {out}")
