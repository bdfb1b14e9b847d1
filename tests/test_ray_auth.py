"""Token authentication end to end: a head started with ``RAY_AUTH_MODE=token``, a job
submitted through ``streamproc.jobs`` with the token (it runs, and its driver joins the
cluster) and without it (refused, with a message naming the fix)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from streamproc import jobs
from streamproc.errors import StreamprocError
from tests.ray_head import ray_head

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(120)]


def test_jobs_api_needs_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = uuid.uuid4().hex
    home = tmp_path / "home"  # no ~/.ray/auth_token of the real user is read or written
    home.mkdir()
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.setenv(var, "")  # recorded, so whatever the test sets is undone
        monkeypatch.delenv(var)
    monkeypatch.setenv("HOME", str(home))
    head_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "HOME": str(home)}
    with ray_head(1, head_env) as head:
        job = jobs.JobSpec("streamproc.ray_cluster", [])  # connects, prints resources
        with pytest.raises(StreamprocError, match="requires token authentication") as err:
            jobs.submit_job(head.dashboard, job, print)
        assert "RAY_AUTH_TOKEN" in str(err.value) and "--ray-token-file" in str(err.value)

        token_file = tmp_path / "token"
        token_file.write_text(token + "\n")
        out: list[str] = []
        assert jobs.submit_job(head.dashboard, job, out.append, token_file=token_file) == 0
        assert '"resources"' in "".join(out), "".join(out)[-2000:]

        token_file.write_text("wrong")
        with pytest.raises(StreamprocError, match="refused"):
            jobs.submit_job(head.dashboard, job, print, token_file=token_file)
