"""`streamproc tune` (and the `model` group): hyperparameter search as a job.

Thin over ``streamproc.jobs``: the command resolves the config here and builds the
``python -m trainers.tune`` job, which runs on a Ray cluster through the Jobs API
(``--ray-address http://HEAD:8265``, with the cluster's token, see
``streamproc.ray_cluster``) or as a local process with a private Ray.
"""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from streamproc import jobs
from streamproc.cli import model_cmd
from streamproc.cli.common import console, friendly_errors, resolve_config
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


@app.command("tune")
@friendly_errors
def tune(
    data: Path = typer.Option(..., "--data", help="Dataset root (train/, test/, labels)."),
    search: str = typer.Option("grid", "--search", help="grid or evolutionary."),
    trials: int = typer.Option(8, "--trials", min=2, help="Trials (grid: at most this many)."),
    out: Path = typer.Option(..., "--out", help="Results folder (table, plot, best artifact)."),
    store: str | None = typer.Option(
        None, "--store", help="Model store dir or fsspec URI for the best (default OUT/store)."
    ),
    name: str | None = typer.Option(None, "--name", help="Model name in the store."),
    promote: bool = typer.Option(False, "--promote", help="Make the best the current version."),
    config: Path | None = typer.Option(None, "--config", help="Base config (YAML)."),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Override training.epochs."),
    max_windows: int | None = typer.Option(
        None, "--max-windows", min=1, help="Cap training windows per trial."
    ),
    objective: str = typer.Option(
        "auto", "--objective", help="auto, auc (labelled split) or label-free."
    ),
    f1_weight: float = typer.Option(0.0, "--f1-weight", min=0, max=1, help="Weight of val F1."),
    val_clips: str | None = typer.Option(
        None, "--val-clips", help="Validation clips, comma-separated (default every 4th)."
    ),
    concurrency: int = typer.Option(2, "--concurrency", min=1, help="Trials at once."),
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
    if search not in ("grid", "evolutionary"):
        raise ConfigError(f"--search must be grid or evolutionary, got {search!r}")
    overrides = {k: yaml.safe_load(v) for k, v in parse_pairs(set_, "--set").items()}
    cfg = resolve_config(
        config,
        None,
        {"training.epochs": epochs, "training.max_windows": max_windows, **overrides},
    )
    remote = ray_address is not None
    args = [
        "--data", jobs.job_path(data, remote),
        "--search", search,
        "--trials", str(trials),
        "--out", jobs.job_path(out, remote),
        "--objective", objective,
        "--f1-weight", str(f1_weight),
        "--concurrency", str(concurrency),
        "--config-json", jobs.config_json(cfg),
    ]  # fmt: skip
    if store:
        args += [
            "--store",
            store if remote or "://" in store else jobs.job_path(Path(store), remote),
        ]
    if name:
        args += ["--name", name]
    if promote:
        args.append("--promote")
    if val_clips:
        args += ["--val-clips", val_clips]
    job = jobs.JobSpec(f"{jobs.TRAINERS}.tune", args, parse_pairs(env, "--env"), python)
    console.print(f"{search} search, {trials} trials -> {out}" + (f" on {ray_address}" * remote))
    code = jobs.run_job(job, ray_address, token_file=ray_token_file)
    if code:
        console.print(f"[bold red]search failed[/] (exit code {code})")
    raise typer.Exit(code)
