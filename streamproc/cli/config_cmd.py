"""`streamproc config validate|show`."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from streamproc.cli.common import console, friendly_errors
from streamproc.config import load_config
from streamproc.redaction import redact_tree

app = typer.Typer(help="Check and print configuration.", no_args_is_help=True)


@app.command("validate")
@friendly_errors
def validate(file: Path = typer.Argument(..., help="YAML config file.")) -> None:
    """Validate a config file; errors name the offending key."""
    load_config(file)
    console.print(f"[green]ok[/] {file}")


@app.command("show")
@friendly_errors
def show(
    file: Path | None = typer.Argument(None, help="Config file; defaults if omitted."),
) -> None:
    """Print the full effective config (defaults filled in) as YAML, credentials masked."""
    dump = redact_tree(load_config(file).model_dump(mode="json"))
    typer.echo(yaml.safe_dump(dump, sort_keys=False))
