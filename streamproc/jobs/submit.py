"""Running a job: the ``trainers`` entry points on a Ray cluster or as a local process.

One job API for the CLI (``streamproc train --ray-address``, ``streamproc tune``) and
for whoever else submits work (tests, scripts). streamproc never imports ``trainers``
(that package depends on streamproc, not the reverse): a job runs
``python -m trainers.<module>`` by name.

- with an address (``http://HEAD:8265``, the Ray dashboard, as for ``ray job submit``):
  submitted through the Ray Jobs API, with the cluster's auth token as a bearer header
  when there is one (``streamproc.ray_cluster.cluster_token``). The runtime env uploads
  the ``streamproc`` and ``trainers`` packages (``py_modules``) so the cluster runs this
  checkout's code (its image must hold the dependencies: torch, ray, optuna); the
  config is resolved here and sent inline, so the cluster needs no copy of the file.
  Paths are as the cluster sees them. Logs are streamed; the exit code is the job's
  (non-zero when it fails); Ctrl-C stops the job.
- no address: the module runs as a child process on this machine, which starts a
  private local Ray (``ensure_ray``). Chosen over ``ray start`` + submit because there
  is nothing to start or clean up afterwards, no clash with other Ray instances on the
  machine (no fixed ports), Ctrl-C stops everything, and the entry point is the same.
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

from streamproc.config import StreamprocConfig
from streamproc.config.root import MODEL_SECTIONS
from streamproc.errors import ConfigError, StreamprocError
from streamproc.jobs.args import TuneArgs, job_argv
from streamproc.ray_cluster import TOKEN_FIX, auth_headers, cluster_token

TRAINERS = "trainers"
JOB_ENV = {"PYTHONUNBUFFERED": "1"}  # log lines reach `ray job logs` as they are printed
EXCLUDES = ["__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache"]
Echo = Callable[[str], None]


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


def dashboard_url(address: str) -> str:
    if "://" not in address:
        raise ConfigError(
            f"--ray-address {address!r}: expected the Ray dashboard URL the Jobs API listens "
            "on, e.g. http://HEAD:8265 (as for `ray job submit --address`)"
        )
    return address.rstrip("/")


def jobs_client(address: str, token_file: str | Path | None = None) -> Any:
    """A ``JobSubmissionClient`` for ``address`` that presents the cluster's token."""
    from ray.job_submission import JobSubmissionClient

    token = cluster_token(token_file)
    return JobSubmissionClient(dashboard_url(address), headers=auth_headers(token))


def submit_job(
    address: str,
    job: JobSpec,
    echo: Echo,
    client: Any = None,
    token_file: str | Path | None = None,
) -> int:
    """Submit ``job`` through the Ray Jobs API, stream its logs, return its exit code."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobStatus

    try:
        client = client or jobs_client(address, token_file)
        job_id = client.submit_job(
            entrypoint=job.entrypoint(),
            submission_id=f"streamproc-{job.module.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:8]}",
            runtime_env=runtime_env(job.env),
        )
    except AuthenticationError as err:
        first = str(err.message).splitlines()[0]
        raise StreamprocError(
            f"the Ray cluster at {address} requires token authentication and refused this "
            f"request ({first}); {TOKEN_FIX}"
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


def run_job(
    job: JobSpec,
    ray_address: str | None,
    echo: Echo | None = None,
    token_file: str | Path | None = None,
) -> int:
    if ray_address:
        return submit_job(ray_address, job, echo or _echo, token_file=token_file)
    return run_local(job)


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def config_json(cfg: StreamprocConfig) -> str:
    """The sections a job needs (never deployment sections or their secrets)."""
    return cfg.model_dump_json(include=MODEL_SECTIONS)


def job_path(path: Path, remote: bool) -> str:
    """A path as the job sees it: as given for a cluster, absolute for a local run."""
    return str(path) if remote else str(path.expanduser().resolve())


def training_job(cfg: StreamprocConfig, data: Path, out: Path, remote: bool) -> JobSpec:
    """``trainers.train``: data-parallel Ray Train."""
    args = ["--data", job_path(data, remote), "--out", job_path(out, remote)]
    return JobSpec(f"{TRAINERS}.train", [*args, "--config-json", config_json(cfg)])


def tune_job(
    args: TuneArgs, cfg: StreamprocConfig, env: dict[str, str], python: str = "python"
) -> JobSpec:
    """``trainers.tune``: a hyperparameter search with ``cfg`` as the base config."""
    argv = [*job_argv(args), "--config-json", config_json(cfg)]
    return JobSpec(f"{TRAINERS}.tune", argv, env, python)
