"""`streamproc alerts schema`: the alert event's JSON Schema for downstream apps."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from streamproc.alerts.schema import AlertEvent

app = typer.Typer(help="The alert topic's message format.", no_args_is_help=True)


@app.command("schema")
def schema(out: Path | None = typer.Option(None, "--out", help="Write to a file.")) -> None:
    """Print the JSON Schema of alert events."""
    text = json.dumps(AlertEvent.model_json_schema(), indent=2)
    if out:
        out.write_text(text + "\n")
    else:
        typer.echo(text)
