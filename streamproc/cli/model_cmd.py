"""`streamproc model ...`: the versioned model store and promotion.

Promotion is two steps with one seam between them: the store's ``current`` pointer
(what a restarted or newly deployed scorer loads) and, with ``--ray-address``, the
running Serve application redeployed with ``user_config: {artifact: STORE/NAME/VERSION}``
(``streamproc.serving.launch.launch``). Replicas answer with the new version id once it
is live; requests in flight finish on the model they started with.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from streamproc.cli.common import console, friendly_errors
from streamproc.config import load_config
from streamproc.config.serving import ServingConfig
from streamproc.errors import ConfigError

if TYPE_CHECKING:
    from streamproc.model.store import ModelStore

app = typer.Typer(help="Versioned model store: export, list, promote.", no_args_is_help=True)


def open_store(uri: str) -> ModelStore:
    """The store at ``uri``; imported here because the store loads torch (the artifact)."""
    from streamproc.model.store import ModelStore

    return ModelStore(uri)


def redeploy(serving: ServingConfig, artifact: str, ray_address: str) -> str:
    """Redeploy the Serve app on ``ray_address`` with ``artifact``; returns the version
    the replicas report."""
    from streamproc.serving.launch import launch

    handle = launch(serving.model_copy(update={"ray_address": ray_address}), artifact)
    return str(handle.version.remote().result(timeout_s=120))


@app.command("export")
@friendly_errors
def export(
    store: str = typer.Option(..., "--store", help="Store directory or fsspec URI."),
    artifact: Path = typer.Option(..., "--artifact", help="Artifact directory to add."),
    name: str | None = typer.Option(None, "--name", help="Model name (default: model type)."),
) -> None:
    """Copy an artifact (e.g. from `streamproc train`) into the store as a version."""
    v = open_store(store).export(artifact, name)
    console.print(f"exported {v.name} version [bold]{v.version}[/] -> {v.uri}")


@app.command("list")
@friendly_errors
def list_versions(
    store: str = typer.Option(..., "--store", help="Store directory or fsspec URI."),
    name: str | None = typer.Option(None, "--name", help="Model (default: the only one)."),
) -> None:
    """Versions of a model, oldest first; `*` marks the current one."""
    s = open_store(store)
    model = s.resolve_name(name)
    current = s.current(model)
    for v in s.versions(model):
        search = v.metadata.get("search", {})
        val = search.get("validation", {}).get("micro_auc")
        note = f"  val AUC {val:.4f}" if isinstance(val, float) else ""
        mark = "*" if v.version == current else " "
        typer.echo(f"{mark} {v.version}  {v.metadata.get('created', '?')}{note}")


@app.command("promote")
@friendly_errors
def promote(
    store: str = typer.Option(..., "--store", help="Store directory or fsspec URI."),
    version: str = typer.Option(..., "--version", help="Version id to make current."),
    name: str | None = typer.Option(None, "--name", help="Model (default: the only one)."),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="Also redeploy the running Serve app on this Ray cluster (as serving.ray_address: "
        "auto, HEAD:6379 or ray://HEAD:10001).",
    ),
    config: Path | None = typer.Option(
        None, "--config", help="streamproc config whose serving section names the app."
    ),
) -> None:
    """Point STORE/NAME/current at VERSION and, with --ray-address, hot-swap serving."""
    s = open_store(store)
    model = s.resolve_name(name)
    previous = s.promote(model, version)
    console.print(f"{model}: current {previous or '(none)'} -> [bold]{version}[/]")
    if ray_address is None:
        return
    if not s.local:
        raise ConfigError(
            f"cannot redeploy from {s.uri}: replicas load artifacts from a filesystem path; "
            "use a store on a volume every Ray node mounts"
        )
    live = redeploy(load_config(config).serving, s.version_uri(model, version), ray_address)
    console.print(f"Serve app now serves version [bold]{live}[/]")
