"""`streamproc bench chaos --short` for the long outages: the broker, then redis, down
for 12 s while the workers' client deadlines are far shorter (a 3 s broker connect
timeout, 6 s delivery timeout, 2 s redis retry deadline, a retry budget of 2 attempts).
Every window scored, none dead-lettered, no incident decided twice, and the worker
resumed by itself. At 9d4b37c the broker outage left the worker's producer closed for
good, and the redis outage dead-lettered valid windows as retries-exhausted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamproc.cli.app import app
from streamproc.evaluation.chaos.scenarios import FULL_ONLY
from streamproc.evaluation.chaos.suite import default_scenarios


def test_the_two_minute_outages_run_only_in_the_full_suite() -> None:
    short, full = default_scenarios(short=True), default_scenarios(short=False)
    assert {"kafka-down-120s", "redis-down-120s", "both-down-120s"} == FULL_ONLY
    assert set(full) >= FULL_ONLY and not FULL_ONLY & set(short)
    assert {"kafka-down-long", "redis-down-long"} <= set(short)


@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.slow
def test_chaos_short_long_outages_of_the_broker_and_redis(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, tiny_artifact: Path
) -> None:
    report = tmp_path / "chaos.json"
    args = ["bench", "chaos", "--short", "--work", str(tmp_path / "work")]
    args += ["--artifact", str(tiny_artifact), "--report", str(report)]
    args += ["--scenario", "kafka-down-long", "--scenario", "redis-down-long"]
    result = CliRunner().invoke(app, args)
    rows = {r["scenario"]: r for r in json.loads(report.read_text())}
    assert set(rows) == {"kafka-down-12s-long", "redis-down-12s-long"}, result.output
    for r in rows.values():
        assert r["frames_scored"] == r["frames"] > 0, r["notes"]
        assert r["windows_lost"] == 0
        assert r["dead_lettered"] == {} and r["healthy_dead_lettered"] == 0, r["notes"]
        assert r["duplicate_alert_ids"] == 0
        assert r["alerts_match"], r["notes"]
        assert r["recover_s"] is not None, r["notes"]
        assert r["passed"], r["notes"]
    # The outages outlasted the clients' own deadlines: the producer failed to reconnect
    # and redis calls gave up, and the worker went on regardless.
    kafka_notes = " ".join(rows["kafka-down-12s-long"]["notes"])
    assert "0 failed broker reconnect(s)" not in kafka_notes, kafka_notes
    redis_notes = " ".join(rows["redis-down-12s-long"]["notes"])
    assert " 0 redis-unavailable" not in redis_notes, redis_notes
    assert result.exit_code == 0, result.output
