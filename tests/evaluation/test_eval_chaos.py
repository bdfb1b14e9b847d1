"""`streamproc bench chaos --short` on the real Kafka and Redis, for two cheap scenarios:
poison records among healthy cameras, and a worker SIGKILLed between publish and commit.
Nothing lost, no incident decided twice, every poison record dead-lettered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamproc.cli.app import app

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]


def test_chaos_short_poison_and_kill(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, tiny_artifact: Path
) -> None:
    report = tmp_path / "chaos.json"
    args = ["bench", "chaos", "--short", "--work", str(tmp_path / "work")]
    args += ["--artifact", str(tiny_artifact), "--report", str(report)]
    args += ["--scenario", "poison", "--scenario", "kill-at-flush"]
    result = CliRunner().invoke(app, args)
    rows = {r["scenario"]: r for r in json.loads(report.read_text())}
    assert result.exit_code == 0, result.output
    assert set(rows) == {"poison", "kill-at-flush"}
    for r in rows.values():
        assert r["frames_scored"] == r["frames"] > 0
        assert r["windows_lost"] == 0
        assert r["duplicate_alert_ids"] == 0
        assert r["alerts_match"], r["notes"]
        # The reference must have alerts for the match to mean anything (the cameras'
        # threshold is the model's mean score: incidents on every camera).
        assert r["alerts"] > 0, r["notes"]
        assert r["healthy_dead_lettered"] == 0
    poison = rows["poison"]
    # 11 poison records, each sent twice; the version-2 part whose frames never came is
    # dead-lettered as incomplete.
    assert poison["bad_expected"] == 22 and poison["bad_missed"] == 0
    assert sum(poison["dead_lettered"].values()) == 22
    assert poison["dead_lettered"]["incomplete"] == 2
    assert "1 kill(s)" in rows["kill-at-flush"]["notes"]
    assert rows["kill-at-flush"]["recover_s"] is not None
    assert "| poison |" in result.output
