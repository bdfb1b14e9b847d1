"""The chaos hang hook of the Serve replica: inert when unset, blocks S seconds at the
Nth request only, and a bad spec names the expected form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import streamproc
from streamproc.errors import ConfigError
from streamproc.serving import hangpoint


def test_parse_says_what_is_expected() -> None:
    assert hangpoint.parse("3:20") == (3, 20.0)
    assert hangpoint.parse("1:0.5") == (1, 0.5)
    for bad in ("3", "0:5", "3:0", "x:5", "3:x", "3:-1", "3:99999"):
        with pytest.raises(ConfigError, match="N:S"):
            hangpoint.parse(bad)


def test_it_sleeps_at_the_nth_request_only() -> None:
    slept: list[float] = []
    reached = hangpoint._armed(3, 7.5, sleep=slept.append)
    for _ in range(6):
        reached()
    assert slept == [7.5]


def test_unset_it_is_a_no_op_and_set_it_is_armed_at_import() -> None:
    code = (
        "import time\n"
        "from streamproc.serving import hangpoint as h\n"
        "t = time.monotonic(); h.reached(); h.reached(); print(round(time.monotonic() - t, 1))\n"
    )
    root = str(Path(streamproc.__file__).resolve().parents[1])
    for env, want in (({}, 0.0), ({hangpoint.ENV: "2:0.6"}, 0.6)):
        full = {"PATH": "", "PYTHONPATH": root, **env}
        p = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        assert abs(float(p.stdout) - want) < 0.3
