"""Submission plumbing of streamproc/jobs.py without a Ray cluster (a fake Jobs
client stands in; the real one is exercised in test_trainers_ray.py)."""

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from ray.job_submission import JobStatus
from typer.testing import CliRunner

from streamproc import jobs
from streamproc.cli.app import app
from streamproc.errors import ConfigError, StreamprocError
from trainers.tune import parser as tune_parser

runner = CliRunner()


class FakeInfo:
    def __init__(self, status: JobStatus, code: int | None) -> None:
        self.status, self.message, self.driver_exit_code = status, "done", code


class FakeClient:
    def __init__(self, status: JobStatus, code: int | None = None) -> None:
        self.info = FakeInfo(status, code)
        self.submitted: dict[str, Any] = {}

    def submit_job(self, **kw: Any) -> str:
        self.submitted = kw
        return kw["submission_id"]

    async def tail_job_logs(self, job_id: str):  # type: ignore[no-untyped-def]
        for line in ("line 1\n", "line 2\n"):
            yield line

    def get_job_info(self, job_id: str) -> FakeInfo:
        return self.info


def test_entrypoint_and_runtime_env() -> None:
    job = jobs.JobSpec("trainers.tune", ["--config-json", '{"a": "b c"}'], {"X": "1"})
    assert shlex.split(job.entrypoint()) == [
        "python", "-m", "trainers.tune", "--config-json", '{"a": "b c"}'
    ]  # fmt: skip
    env = jobs.runtime_env(job.env)
    mods = [Path(p) for p in env["py_modules"]]
    assert [m.name for m in mods] == ["streamproc", "trainers"]
    assert all((m / "__init__.py").exists() for m in mods)
    assert env["env_vars"] == {"PYTHONUNBUFFERED": "1", "X": "1"}


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [(JobStatus.SUCCEEDED, 0, 0), (JobStatus.FAILED, 2, 2), (JobStatus.FAILED, None, 1)],
)
def test_submit_streams_logs_and_propagates_exit(
    status: JobStatus, code: int | None, expected: int
) -> None:
    client = FakeClient(status, code)
    out: list[str] = []
    job = jobs.JobSpec("trainers.tune", ["--data", "/d"])
    assert jobs.submit_job("http://head:8265", job, out.append, client) == expected
    assert "line 1\n" in out and "line 2\n" in out
    assert client.submitted["entrypoint"] == "python -m trainers.tune --data /d"
    assert client.submitted["submission_id"].startswith("streamproc-tune-")


def test_tune_options_are_declared_once() -> None:
    """The trainer's parser is generated from TuneArgs: every value survives the trip."""
    from trainers.search import SEARCHES

    assert SEARCHES == jobs.args.SEARCHES
    sent = jobs.TuneArgs(
        data="/d", out="/o", search="evolutionary", trials=5, objective="label-free",
        f1_weight=0.25, concurrency=3, store="s3://b/m", name="m", promote=True,
        val_clips="01,02",
    )  # fmt: skip
    ns = tune_parser().parse_args(jobs.job_argv(sent))
    assert jobs.TuneArgs(**{k: getattr(ns, k) for k in vars(sent)}) == sent
    defaults = tune_parser().parse_args(["--data", "/d", "--out", "/o"])
    assert jobs.TuneArgs(**{k: getattr(defaults, k) for k in vars(sent)}) == jobs.TuneArgs(
        "/d", "/o"
    )
    assert jobs.job_argv(jobs.TuneArgs("/d", "/o"))[:4] == ["--data", "/d", "--out", "/o"]


def test_refused_token_names_the_fix() -> None:
    from ray.exceptions import AuthenticationError

    class Refusing(FakeClient):
        def submit_job(self, **kw: Any) -> str:
            raise AuthenticationError("Authentication required: Unauthorized\n\nmore")

    with pytest.raises(StreamprocError, match="RAY_AUTH_TOKEN") as err:
        jobs.submit_job("http://head:8265", jobs.JobSpec("trainers.tune", []), print,
                        Refusing(JobStatus.FAILED))  # fmt: skip
    assert "requires token authentication" in str(err.value) and "--ray-token-file" in str(
        err.value
    )


def test_dashboard_address_is_checked() -> None:
    with pytest.raises(ConfigError, match="dashboard URL"):
        jobs.submit_job("127.0.0.1:6379", jobs.JobSpec("trainers.tune", []), print)


def test_local_run_propagates_the_exit_code(tmp_path: Path) -> None:
    job = jobs.JobSpec("trainers.tune", ["--data", str(tmp_path / "nope"), "--out", str(tmp_path)])
    assert jobs.run_local(job) == 2  # bad input, before any Ray starts


def test_tune_cli_builds_the_job(monkeypatch: pytest.MonkeyPatch, tiny_yaml: Path) -> None:
    seen: list[tuple[jobs.JobSpec, str | None]] = []
    monkeypatch.setattr(
        jobs, "run_job", lambda job, addr, echo=None, token_file=None: seen.append((job, addr)) or 3
    )
    args = ["tune", "--data", "/data", "--search", "evolutionary", "--trials", "5", "--out", "o"]
    args += ["--config", str(tiny_yaml), "--set", "training.epochs=3", "--env", "A=1"]
    res = runner.invoke(app, [*args, "--ray-address", "http://head:8265"])
    assert res.exit_code == 3  # the job's exit code
    job, addr = seen[0]
    assert addr == "http://head:8265" and job.module == "trainers.tune" and job.env == {"A": "1"}
    ns = tune_parser().parse_args(job.args)
    assert (ns.data, ns.search, ns.trials, ns.out) == ("/data", "evolutionary", 5, "o")
    cfg = json.loads(ns.config_json)
    assert cfg["training"]["epochs"] == 3 and cfg["model"]["base_channels"] == 8
    assert "transport" not in cfg and "state" not in cfg  # no deployment sections or secrets
    res = runner.invoke(app, [*args[:-6]])  # local: paths made absolute
    assert res.exit_code == 3 and seen[1][1] is None
    assert Path(tune_parser().parse_args(seen[1][0].args).out).is_absolute()
    res = runner.invoke(app, ["tune", "--data", "/d", "--out", "o", "--search", "random"])
    assert res.exit_code == 2 and "grid or evolutionary" in res.output


def test_train_with_ray_address_submits(monkeypatch: pytest.MonkeyPatch, tiny_yaml: Path) -> None:
    seen: list[jobs.JobSpec] = []
    monkeypatch.setattr(
        jobs, "run_job", lambda job, addr, echo=None, token_file=None: seen.append(job) or 0
    )
    args = ["train", "--data", "/data", "--out", "/art", "--config", str(tiny_yaml)]
    res = runner.invoke(app, [*args, "--epochs", "1", "--ray-address", "http://head:8265"])
    assert res.exit_code == 0, res.output
    assert seen[0].module == "trainers.train"
    ns = seen[0].args
    assert ns[:4] == ["--data", "/data", "--out", "/art"]
    assert json.loads(ns[ns.index("--config-json") + 1])["training"]["epochs"] == 1
