"""`streamproc tune`, and running the ``trainers`` entry points as Ray jobs.

streamproc never imports ``trainers`` (that package depends on streamproc, not the
reverse): the CLI runs ``python -m trainers.<module>`` by name.

- ``--ray-address http://HEAD:8265`` (the Ray dashboard, as for ``ray job submit``):
  submitted through the Ray Jobs API. The runtime env uploads the ``streamproc`` and
  ``trainers`` packages (``py_modules``) so the cluster runs this checkout's code (its
  image must hold the dependencies: torch, ray, optuna); the config is resolved here
  and sent inline, so the cluster needs no copy of the file. Paths (``--data``,
  ``--out``) are as the cluster sees them. Logs are streamed; the exit code is the
  job's (non-zero when it fails); Ctrl-C stops the job.
- no address: the module runs as a child process on this machine and starts a private
  local Ray. Chosen over ``ray start`` + submit because there is nothing to start or
  clean up afterwards, no clash with other Ray instances on the machine (no fixed
  ports), Ctrl-C stops everything, and the entry point is the same either way.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shlex
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
import yaml

from streamproc.cli import model_cmd
from streamproc.cli.common import console, friendly_errors, resolve_config
from streamproc.config import StreamprocConfig
from streamproc.errors import ConfigError, StreamprocError
from streamproc.model.artifact import MODEL_SECTIONS

TRAINERS = "trainers"
JOB_ENV = {"PYTHONUNBUFFERED": "1"}  # log lines reach `ray job logs` as they are printed
EXCLUDES = ["__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache"]
Echo = Callable[[str], None]

app = typer.Typer()  # merged into the root app: `streamproc tune`, `streamproc model ...`
app.add_typer(model_cmd.app, name="model")


@dataclass(frozen=True)
class JobSpec:
    """``python -m <module> <args>`` with extra environment variables."""

    module: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    python: str = "python"  # the interpreter on the cluster (local runs use this one's)

    def entrypoint(self) -> str:
        return shlex.join([self.python, "-m", self.module, *self.args])


def package_dir(name: str) -> Path:
    """Folder of an importable package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise StreamprocError(
            f"package {name!r} not found; run from a streamproc checkout or install it "
            "(`pip install -e .` installs streamproc and trainers)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def runtime_env(env: dict[str, str]) -> dict[str, Any]:
    return {
        "py_modules": [str(package_dir("streamproc")), str(package_dir(TRAINERS))],
        "excludes": EXCLUDES,
        "env_vars": {**JOB_ENV, **env},
    }


def _dashboard(address: str) -> str:
    if "://" not in address:
        raise ConfigError(
            f"--ray-address {address!r}: expected the Ray dashboard URL the Jobs API listens "
            "on, e.g. http://HEAD:8265 (as for `ray job submit --address`)"
        )
    return address


def submit_job(address: str, job: JobSpec, echo: Echo, client: Any = None) -> int:
    """Submit ``job`` through the Ray Jobs API, stream its logs, return its exit code."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobStatus, JobSubmissionClient

    try:
        client = client or JobSubmissionClient(_dashboard(address))
        job_id = client.submit_job(
            entrypoint=job.entrypoint(),
            submission_id=f"streamproc-{job.module.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:8]}",
            runtime_env=runtime_env(job.env),
        )
    except AuthenticationError as err:
        raise StreamprocError(
            f"the Ray cluster at {address} requires token authentication ({err.__class__.__name__})"
            ": set RAY_AUTH_MODE=token here and give Ray the cluster's token (RAY_AUTH_TOKEN or "
            "~/.ray/auth_token); see https://docs.ray.io/en/latest/ray-security/token-auth.html"
        ) from None
    echo(f"submitted Ray job {job_id} to {address}: {job.entrypoint()}\n")

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            echo(chunk)

    try:
        asyncio.run(tail())
    except KeyboardInterrupt:
        client.stop_job(job_id)
        echo(f"\nstopped Ray job {job_id}\n")
        return 130
    info = client.get_job_info(job_id)
    if info.status == JobStatus.SUCCEEDED:
        return 0
    code = getattr(info, "driver_exit_code", None)
    echo(f"Ray job {job_id} {info.status}: {info.message or ''}\n")
    return code if isinstance(code, int) and code > 0 else 1


def run_local(job: JobSpec) -> int:
    """Run ``job`` as a child process here (it starts its own local Ray)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # never join by accident
    env.update({**JOB_ENV, **job.env})
    return subprocess.call([sys.executable, "-m", job.module, *job.args], env=env)


def run_job(job: JobSpec, ray_address: str | None, echo: Echo | None = None) -> int:
    if ray_address:
        return submit_job(ray_address, job, echo or _echo)
    return run_local(job)


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def config_json(cfg: StreamprocConfig) -> str:
    """The sections a job needs (never deployment sections or their secrets)."""
    return cfg.model_dump_json(include=MODEL_SECTIONS)


def _where(path: Path, remote: bool) -> str:
    """A path as the job sees it: as given for a cluster, absolute for a local run."""
    return str(path) if remote else str(path.expanduser().resolve())


def submit_training(ray_address: str, cfg: StreamprocConfig, data: Path, out: Path) -> int:
    """`streamproc train --ray-address`: data-parallel Ray Train as a Ray job."""
    args = ["--data", str(data), "--out", str(out), "--config-json", config_json(cfg)]
    return run_job(JobSpec(f"{TRAINERS}.train", args), ray_address)


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
        "--data", _where(data, remote),
        "--search", search,
        "--trials", str(trials),
        "--out", _where(out, remote),
        "--objective", objective,
        "--f1-weight", str(f1_weight),
        "--concurrency", str(concurrency),
        "--config-json", config_json(cfg),
    ]  # fmt: skip
    if store:
        args += ["--store", store if remote or "://" in store else _where(Path(store), remote)]
    if name:
        args += ["--name", name]
    if promote:
        args.append("--promote")
    if val_clips:
        args += ["--val-clips", val_clips]
    job = JobSpec(f"{TRAINERS}.tune", args, parse_pairs(env, "--env"), python)
    console.print(f"{search} search, {trials} trials -> {out}" + (f" on {ray_address}" * remote))
    code = run_job(job, ray_address)
    if code:
        console.print(f"[bold red]search failed[/] (exit code {code})")
    raise typer.Exit(code)
