"""`streamproc tune` (and the `model` group): hyperparameter search as a job.

Thin over ``streamproc.jobs``: the command resolves the config here and builds the
``python -m trainers.tune`` job, which runs on a Ray cluster through the Jobs API
(``--ray-address http://HEAD:8265``, with the cluster's token, see
``streamproc.ray_cluster``) or as a local process with a private Ray.
"""

from __future__ import annotations

from pathlib import Path

import typer

from streamproc import jobs
from streamproc.cli import model_cmd
from streamproc.cli.common import console, friendly_errors, resolve_config
from streamproc.config import parse_override
from streamproc.errors import ConfigError

app = typer.Typer()  # merged into the root app: `streamproc tune`, `streamproc model ...`
app.add_typer(model_cmd.app, name="model")


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


H = jobs.TuneArgs  # the help texts of the options trainers.tune shares


@app.command("tune")
@friendly_errors
def tune(
    data: Path = typer.Option(..., "--data", help=jobs.help_of(H, "data")),
    search: str = typer.Option("grid", "--search", help=jobs.help_of(H, "search")),
    trials: int = typer.Option(8, "--trials", min=2, help=jobs.help_of(H, "trials")),
    out: Path = typer.Option(..., "--out", help=jobs.help_of(H, "out")),
    store: str | None = typer.Option(None, "--store", help=jobs.help_of(H, "store")),
    name: str | None = typer.Option(None, "--name", help=jobs.help_of(H, "name")),
    promote: bool = typer.Option(False, "--promote", help=jobs.help_of(H, "promote")),
    config: Path | None = typer.Option(None, "--config", help="Base config (YAML)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override training.epochs."),
    max_windows: int | None = typer.Option(
        None, "--max-windows", min=1, help="Cap training windows per trial."
    ),
    objective: str = typer.Option("auto", "--objective", help=jobs.help_of(H, "objective")),
    f1_weight: float = typer.Option(
        0.0, "--f1-weight", min=0, max=1, help=jobs.help_of(H, "f1_weight")
    ),
    val_clips: str | None = typer.Option(None, "--val-clips", help=jobs.help_of(H, "val_clips")),
    concurrency: int = typer.Option(2, "--concurrency", min=1, help=jobs.help_of(H, "concurrency")),
    set_: list[str] = typer.Option(
        [], "--set", help="Config override KEY=VALUE (YAML value), repeatable."
    ),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Ray dashboard URL (http://HEAD:8265); none = local Ray."
    ),
    ray_token_file: Path | None = typer.Option(
        None,
        "--ray-token-file",
        help="The cluster's auth token (default: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, "
        "~/.ray/auth_token).",
    ),
    env: list[str] = typer.Option([], "--env", help="KEY=VALUE for the job, repeatable."),
    python: str = typer.Option("python", "--python", help="Interpreter on the cluster."),
) -> None:
    """Search hyperparameters (Ray Tune, ASHA early stopping), export the best artifact."""
    for what, value, valid in (("--search", search, jobs.args.SEARCHES),
                               ("--objective", objective, jobs.args.OBJECTIVES)):  # fmt: skip
        if value not in valid:
            raise ConfigError(f"{what} must be {' or '.join(valid)}, got {value!r}")
    overrides = dict(parse_override(item, "--set") for item in set_)
    cfg = resolve_config(
        config,
        None,
        {"training.epochs": epochs, "training.max_windows": max_windows, **overrides},
    )
    remote = ray_address is not None
    if store and not (remote or "://" in store):
        store = jobs.job_path(Path(store), remote)
    args = jobs.TuneArgs(
        data=jobs.job_path(data, remote),
        out=jobs.job_path(out, remote),
        search=search,
        trials=trials,
        objective=objective,
        f1_weight=f1_weight,
        concurrency=concurrency,
        store=store,
        name=name,
        promote=promote,
        val_clips=val_clips,
    )
    job = jobs.tune_job(args, cfg, parse_pairs(env, "--env"), python)
    console.print(f"{search} search, {trials} trials -> {out}" + (f" on {ray_address}" * remote))
    code = jobs.run_job(job, ray_address, token_file=ray_token_file)
    if code:
        console.print(f"[bold red]search failed[/] (exit code {code})")
    raise typer.Exit(code)
