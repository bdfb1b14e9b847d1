"""`bench flow` on the synthetic scene: one row per scene, method and flow scale."""

from __future__ import annotations

from pathlib import Path

from streamproc.evaluation.flow_bench import flow_rows, flow_table


def test_rows_per_method_and_scale_with_means_over_scenes(synthetic_dataset: Path) -> None:
    rows = flow_rows([synthetic_dataset, synthetic_dataset], ("farneback",), (1.0, 2.0))
    assert [(r["flow"], r["scale"]) for r in rows] == [("farneback", 1.0), ("farneback", 2.0)] * 2
    for r in rows:
        assert 0.5 < r["stream_micro"] <= 1 and r["cpu_ms_per_frame"] > 0
    # A bigger flow field costs more CPU than a smaller one.
    assert rows[1]["cpu_ms_per_frame"] > rows[0]["cpu_ms_per_frame"]
    table = flow_table(rows)
    assert "| mean | farneback | 1 |" in table and "| mean | farneback | 2 |" in table
