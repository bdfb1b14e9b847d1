"""``local_http_app``: the scorer app behind Serve's HTTP ingress on a fresh local Ray, the
chart's data path on one machine; `bench cost --scoring http` measures through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.evaluation.cost_bench import Layout, cost_table, parse_variant, run_cost

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_cost_through_the_http_ingress(synthetic_dataset: Path, tiny_artifact: Path) -> None:
    ray = pytest.importorskip("ray")
    result = run_cost(
        synthetic_dataset,
        tiny_artifact,
        "memory",
        "http",
        [Layout(1, 1)],
        [parse_variant("defaults")],
        model_threads=1,
        timeout_s=180,
        log=lambda _: None,
    )
    assert not ray.is_initialized()  # the app and its Ray are gone after the run
    (row,) = result["rows"]
    assert row["frames_scored"] == row["frames"] == 80 and row["windows_lost"] == 0
    cpu = row["cpu_s_per_1000_frames"]
    assert cpu["replicas"] > 0 and cpu["ray"] > 0  # the model ran in a replica process
    st = row["stage_cpu_s_per_1000_frames"]
    assert st["model"] == 0 and st["preprocess"] == 0  # not in the worker's process
    # ... but in the replica's, whose stages and the rest add up to its process
    in_replica = row["replica_stage_cpu_s_per_1000_frames"]
    assert in_replica["model"] > 0 and in_replica["preprocess"] > 0
    assert sum(in_replica.values()) == pytest.approx(cpu["replicas"])
    assert "in the Serve replicas" in cost_table(result)
    assert abs(row["micro_auc"] - result["eval_micro_auc"]) < 0.005
