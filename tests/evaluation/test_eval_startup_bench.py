"""The light commands start without torch, Ray, Kafka or OpenCV (what makes them start
at once), and `streamproc bench startup` reports it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamproc.evaluation import startup_bench
from streamproc.evaluation.startup_bench import COMMANDS, heavy_modules, startup_table


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_a_light_command_loads_no_heavy_module(args: tuple[str, ...], tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path))
    assert heavy_modules(args, env) == []


def test_the_probe_sees_a_command_that_loads_them(tmp_path: Path) -> None:
    """`serve config` builds the Serve app, so the probe must report Ray and torch: a probe
    that always said 'none' would pass the test above."""
    loaded = heavy_modules(("serve", "config", "--artifact", "/m"), dict(os.environ))
    assert {"ray", "torch"} <= set(loaded)


def test_the_bench_times_each_command_and_judges_the_goal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(startup_bench, "COMMANDS", (("--help",), ("alerts", "schema")))
    rows = startup_bench.run_startup(rounds=2)
    assert [r["command"] for r in rows] == ["streamproc --help", "streamproc alerts schema"]
    for r in rows:
        assert 0 < r["cpu_s_min"] <= r["cpu_s_median"] <= r["cpu_s_max"]
        assert r["heavy_modules"] == []
    table = startup_table(rows, 2)
    assert "| `streamproc --help` |" in table
    # The verdict is the table's own arithmetic (never a timing that decides this test).
    assert "NOT met" in startup_table([dict(rows[0], cpu_s_median=1.5)], 2)
    assert ": met (worst median 0.30)" in startup_table([dict(rows[0], cpu_s_median=0.3)], 2)
