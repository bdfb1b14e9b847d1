"""`bench pipeline` on the embedded peers (memory transport, SQLite state, in-process
scorer) over the synthetic dataset: the report's agreement and loss figures are real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from streamproc.errors import ConfigError
from streamproc.evaluation.pipeline_bench import alert_quality, run_pipeline_bench


def test_alert_quality_counts_hits_misses_and_duplicate_starts() -> None:
    labels = {"a": np.array([0, 0, 1, 1, 1, 0, 0, 0]), "b": np.array([0, 1, 1, 0])}
    start = {"camera": "a", "kind": "start", "start_seq": 2}
    alerts = [
        {**start, "event_id": "e1", "seq": 2},
        {**start, "event_id": "e1", "seq": 2},  # redelivered: the same message again
        {**start, "event_id": "e1", "seq": 3},  # a second start of one event: a duplicate
        {"camera": "a", "kind": "end", "event_id": "e1", "seq": 5, "end_seq": 4},
        {"camera": "a", "kind": "start", "event_id": "e2", "seq": 6, "start_seq": 6},
    ]
    q = alert_quality(alerts, labels)
    assert q["alert_events"] == 2 and q["gt_intervals"] == 2
    assert q["alert_precision"] == 0.5  # e2 overlaps no anomaly
    assert q["alert_recall"] == 0.5  # camera b's anomaly was missed
    assert q["duplicate_alerts"] == 1 and q["alert_messages_redelivered"] == 1


@pytest.mark.slow
def test_memory_pipeline_report_agrees_with_the_offline_evaluation(
    synthetic_dataset: Path, tiny_artifact: Path
) -> None:
    threads = torch.get_num_threads()
    rep = run_pipeline_bench(
        synthetic_dataset,
        tiny_artifact,
        "memory",
        scoring="local",
        timeout_s=120,
        log=lambda _: None,
        model_threads=1,
    )
    assert torch.get_num_threads() == threads  # restored
    assert rep["model_threads"] == 1
    assert rep["frames"] == 80 and rep["frames_scored"] == 80
    assert rep["windows_lost"] == 0 and rep["duplicate_alerts"] == 0
    assert abs(rep["micro_auc"] - rep["eval_micro_auc"]) < 0.005
    assert abs(rep["fixed_micro_auc"] - rep["eval_fixed_micro_auc"]) < 0.005
    assert rep["frames_per_s"] > 0 and rep["raw_frames_per_s"] > 0
    assert 0 < rep["p50_latency_ms"] <= rep["p99_latency_ms"]


def test_several_replicas_need_serve_scoring(synthetic_dataset: Path, tiny_artifact: Path) -> None:
    with pytest.raises(ConfigError, match="--replicas needs --scoring serve"):
        run_pipeline_bench(synthetic_dataset, tiny_artifact, "memory", "local", replicas=2)
