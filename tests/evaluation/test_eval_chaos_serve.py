"""`streamproc bench chaos --short` for the model service, on the real Kafka, Redis and
a local Ray Serve with its HTTP proxy (the chart's data path): the one replica SIGKILLed
mid-stream, and a second model promoted mid-stream (a hot swap). Nothing lost, no
incident decided twice, the alerts equal an uninterrupted pass (which has alerts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamproc.cli.app import app

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.ray, pytest.mark.slow]


def test_chaos_short_replica_kill_and_model_swap(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, tiny_artifact: Path
) -> None:
    report = tmp_path / "chaos.json"
    args = ["bench", "chaos", "--short", "--work", str(tmp_path / "work")]
    args += ["--artifact", str(tiny_artifact), "--report", str(report)]
    args += ["--scenario", "serve-replica-kill", "--scenario", "model-swap"]
    result = CliRunner().invoke(app, args)
    rows = {r["scenario"]: r for r in json.loads(report.read_text())}
    assert result.exit_code == 0, result.output
    assert set(rows) == {"serve-replica-kill", "model-swap"}
    for r in rows.values():
        assert r["frames_scored"] == r["frames"] > 0, r["notes"]
        assert r["windows_lost"] == 0 and r["duplicate_alert_ids"] == 0, r["notes"]
        assert r["alerts_match"] and r["alerts"] > 0, r["notes"]
        assert r["healthy_dead_lettered"] == 0, r["notes"]
        assert not [n for n in r["notes"] if n.startswith("FAIL")], r["notes"]
    assert any("a new one after" in n for n in rows["serve-replica-kill"]["notes"])
    swap = rows["model-swap"]["notes"]
    assert any(n.startswith("promoted ") for n in swap), swap
    # Every camera still had frames to score after the swap (paced at 2 fps).
    assert "4 of 4 camera(s) scored by the new version" in swap, swap
