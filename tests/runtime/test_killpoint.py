"""The chaos kill hook: inert when unset, SIGKILLs at the Nth visit of its point."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from streamproc.errors import ConfigError
from streamproc.runtime import killpoint


def test_parse_names_the_valid_points() -> None:
    assert killpoint.parse("commit:3") == ("commit", 3)
    for bad in ("apply", "apply:0", "nowhere:1", "apply:x"):
        with pytest.raises(ConfigError, match="poll, apply, publish, flush, commit"):
            killpoint.parse(bad)


def test_the_process_dies_at_the_nth_visit_only() -> None:
    code = (
        "from streamproc.runtime import killpoint as k\n"
        "k.reached('apply'); k.reached('flush'); print('alive', flush=True)\n"
        "k.reached('apply'); print('not reached')\n"
    )
    env = {killpoint.ENV: "apply:2", "PATH": ""}
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=60)
    assert p.returncode == -signal.SIGKILL
    assert p.stdout.decode().split() == ["alive"]
