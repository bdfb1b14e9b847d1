"""`bench cluster`: its pure parts always; the namespaced cluster itself (scripts/cluster.sh,
three Kafka brokers, Redis, a Ray head and worker node, two ingest shards and two stream
workers; about 2.5 minutes) wherever it can run: as root with `ip netns` (CI's machine),
unless STREAMPROC_CLUSTER_TEST=0."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from streamproc.config import load_config
from streamproc.evaluation.cluster_bench import (
    CLUSTER_SH,
    SERVE_URL,
    cluster_config,
    recovery_s,
    run_cluster_bench,
    subset,
)
from streamproc.evaluation.pipeline_bench import Collected


def test_recovery_is_the_longest_pause_of_a_camera_after_the_fault() -> None:
    got = Collected({}, {}, [], 0)
    for cam, times in {"a": [0.0, 1.0, 2.0, 9.0, 10.0], "b": [0.5, 1.5, 4.5]}.items():
        for i, t in enumerate(times):
            got.received_at[(cam, i)] = t
    assert recovery_s(got, None) is None
    assert recovery_s(got, 3.0) == 6.0  # a: nothing from the fault at 3 s until 9 s
    assert recovery_s(got, 0.0) == 7.0  # a: 2 s -> 9 s


def test_subset_cuts_clips_and_labels(synthetic_dataset: Path, tmp_path: Path) -> None:
    out = subset(synthetic_dataset, 1, 12, tmp_path / "d")
    labels = json.loads((out / "test_labels.json").read_text())
    assert list(labels) == ["00"] and len(labels["00"]) == 12
    assert len(list((out / "test" / "00").iterdir())) == 12


def test_cluster_config_round_trips_through_the_config_file(
    synthetic_dataset: Path, tiny_artifact: Path, tmp_path: Path
) -> None:
    cfg = cluster_config("r1", synthetic_dataset, tiny_artifact, 5.0)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    back = load_config(path)  # what the ingest shards and stream workers read
    assert back.serving.mode == "http" and back.serving.url == SERVE_URL
    assert back.transport.type == "kafka" and back.transport.replication == 3
    assert back.transport.min_insync_replicas == 2
    assert [c.id for c in back.cameras.cameras] == ["clip-00", "clip-01"]


def _cluster_unavailable() -> str | None:
    if os.environ.get("STREAMPROC_CLUSTER_TEST") == "0":
        return "switched off by STREAMPROC_CLUSTER_TEST=0"
    if os.geteuid() != 0:
        return "needs root for network namespaces (ip netns)"
    if shutil.which("ip") is None or subprocess.run(["ip", "netns", "list"]).returncode != 0:
        return "`ip netns` is not available"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_cluster_unavailable() is not None, reason=str(_cluster_unavailable()))
def test_cluster_run_survives_a_killed_stream_worker(
    synthetic_dataset: Path, tiny_artifact: Path, tmp_path: Path
) -> None:
    was_up = subprocess.run(["bash", str(CLUSTER_SH), "status"]).returncode == 0
    subprocess.run(["bash", str(CLUSTER_SH), "up"], check=True)
    try:
        rep = run_cluster_bench(
            synthetic_dataset,
            tiny_artifact,
            fault="stream-worker",
            fps=5.0,
            fault_at_s=2.0,
            timeout_s=180,
            run_dir=tmp_path,
        )
    finally:
        if not was_up:
            subprocess.run(["bash", str(CLUSTER_SH), "down"], check=True)
    assert rep["frames_scored"] == rep["frames"] == 80
    assert rep["windows_lost"] == 0 and rep["duplicate_alert_ids"] == 0
    assert rep["recovery_s"] is not None and rep["micro_auc"] == pytest.approx(
        rep["eval_micro_auc"]
    )
