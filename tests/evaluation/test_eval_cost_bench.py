"""`bench cost` on the embedded peers over the synthetic dataset: the CPU it reports is
the process's own accounting split by stage, the bytes are what ingest sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.config import StreamprocConfig, apply_overrides
from streamproc.cpu import STAGES
from streamproc.errors import ConfigError
from streamproc.evaluation.cost_bench import (
    OUTSIDE,
    Layout,
    cost_table,
    parse_layout,
    parse_variant,
    run_cost,
)


def test_layouts_and_variants_parse_or_name_the_problem() -> None:
    assert parse_layout("2x1") == Layout(2, 1)
    for bad in ("2", "0x1", "ax1", "2x1x1"):
        with pytest.raises(ConfigError, match="WORKERSxREPLICAS"):
            parse_layout(bad)
    v = parse_variant("off:serving.frame_cache_frames=0, cameras.codec=jpeg")
    assert v.name == "off"
    assert v.overrides == {"serving.frame_cache_frames": 0, "cameras.codec": "jpeg"}
    assert parse_variant("defaults").overrides == {}
    with pytest.raises(ConfigError, match=r"--variant '\S+' is not path=value"):
        parse_variant("x:serving.frame_cache_frames")


def test_overrides_are_validated_as_a_whole_config() -> None:
    cfg = apply_overrides(StreamprocConfig(), {"serving.precision": "bf16"})
    assert cfg.serving.precision == "bf16"
    with pytest.raises(ConfigError, match="not a config path"):
        apply_overrides(StreamprocConfig(), {"serving.no_such": 1})
    with pytest.raises(ConfigError):
        apply_overrides(StreamprocConfig(), {"serving.precision": "fp8"})


@pytest.mark.slow
def test_cost_of_the_embedded_pipeline_by_stage(
    synthetic_dataset: Path, tiny_artifact: Path
) -> None:
    result = run_cost(
        synthetic_dataset,
        tiny_artifact,
        "memory",
        "local",
        [Layout(1, 1)],
        [
            parse_variant("defaults"),
            parse_variant("per-window:serving.frame_cache_frames=0,cameras.wire_version=1"),
        ],
        model_threads=1,
        timeout_s=120,
        log=lambda _: None,
    )
    on, off = result["rows"]
    for row in (on, off):
        assert row["frames_scored"] == row["frames"] == 80 and row["windows_lost"] == 0
        st = row["stage_cpu_s_per_1000_frames"]
        own = row["cpu_s_per_1000_frames"]["streamproc"]
        # Every stage ran and the stages with what ran outside them add up to the process.
        assert all(st[s] > 0 for s in ("camera", "windowing", "encode", "decode", "model"))
        assert st["preprocess"] > 0 and st["state"] > 0 and st["publish"] > 0
        assert sum(st[s] for s in (*STAGES, OUTSIDE)) == pytest.approx(own)
        assert 0 < sum(st[s] for s in STAGES) <= own * 1.05
        assert row["cpu_s_per_1000_frames"]["kafka"] is None  # memory transport: none
        assert row["redis_commands_per_window"] is None
        assert row["replica_stage_cpu_s_per_1000_frames"] is None  # no replica
        assert abs(row["micro_auc"] - result["eval_micro_auc"]) < 0.005
    # 2 clips x 40 frames of 48x64 gray, windows of 8 with stride 4 plus a context frame:
    # each frame goes over the wire once with wire version 2 (plus the headers), about
    # 9/4 times with version 1.
    frame = 48 * 64
    assert frame <= on["frames_topic_bytes_per_frame"] <= 1.1 * frame
    assert 2 * frame <= off["frames_topic_bytes_per_frame"] <= 3 * frame
    # Without the frame cache every window's frames are preprocessed again.
    assert (
        off["stage_cpu_s_per_1000_frames"]["preprocess"]
        > on["stage_cpu_s_per_1000_frames"]["preprocess"]
    )
    # With it, about each frame once: 40 of a clip's 72 window frames miss (windows
    # 0, 4 ... 32), a few fewer when the warm-up before the measured span saw them.
    assert 0.4 < on["frame_cache_hit_ratio"] < 0.5
    assert off["frame_cache_hit_ratio"] == 0.0
    table = cost_table(result)
    assert "| defaults | 1x1 |" in table and "| per-window | 1x1 |" in table
