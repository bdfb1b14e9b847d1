"""Ray's and Serve's own lines are hidden unless asked for; what the user must know (a new
auth token) is said once in streamproc's words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamproc import verbosity

START = "from streamproc.ray_cluster import ensure_ray; ensure_ray(num_cpus=1)"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"STREAMPROC_VERBOSE": "1"}, True),
        ({"STREAMPROC_VERBOSE": "0"}, False),
        ({"STREAMPROC_LOG_LEVEL": "debug"}, True),
        ({"STREAMPROC_LOG_LEVEL": "INFO"}, False),
    ],
)
def test_verbose_follows_the_environment(
    env: dict[str, str], expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (verbosity.VERBOSE_ENV, verbosity.LOG_LEVEL_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert verbosity.verbose() is expected


def _start_ray(home: Path, **extra: str) -> str:
    quiet = ("RAY_", verbosity.VERBOSE_ENV, verbosity.LOG_LEVEL_ENV)
    env = {k: v for k, v in os.environ.items() if not k.startswith(quiet)}
    env.update(HOME=str(home), **extra)
    res = subprocess.run(
        [sys.executable, "-c", START], env=env, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout + res.stderr


@pytest.mark.ray
@pytest.mark.slow
def test_a_local_ray_starts_quietly_and_says_where_its_new_token_is(tmp_path: Path) -> None:
    out = _start_ray(tmp_path)
    assert "Started a local Ray instance" not in out and "INFO" not in out, out
    token = tmp_path / ".ray" / "auth_token"
    if token.exists():  # this Ray generates a token for a local instance
        assert out.count(str(token)) == 1, out
    loud = _start_ray(tmp_path / "loud", STREAMPROC_VERBOSE="1")
    assert "Started a local Ray instance" in loud, loud
