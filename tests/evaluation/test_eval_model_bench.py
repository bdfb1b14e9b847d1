"""`bench model` on the synthetic scene and a tiny artifact: every variant timed on the
same windows, its scores compared with eager fp32, its AUC and calibration shift."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from streamproc.errors import ConfigError
from streamproc.evaluation.model_bench import model_table, parse_variant, run_model_bench


def test_variants_are_engine_and_precision() -> None:
    assert parse_variant("compile-bf16").name == "compile-bf16"
    with pytest.raises(ConfigError, match=r"ENGINE-PRECISION.*got 'tensorrt-fp32'"):
        parse_variant("tensorrt-fp32")
    with pytest.raises(ConfigError, match="fp32 only"):
        parse_variant("onnx-bf16")


def test_rows_per_variant_against_eager_fp32(synthetic_dataset: Path, tiny_artifact: Path) -> None:
    variants = [parse_variant("eager-bf16")]
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnxscript"):
        variants.append(parse_variant("onnx-fp32"))
    result = run_model_bench(
        synthetic_dataset, tiny_artifact, variants, windows=6, batch=4, rounds=2
    )
    rows = {r["variant"]: r for r in result["rows"]}
    assert next(iter(rows)) == "eager-fp32"  # the reference, measured though not asked for
    assert set(rows) == {"eager-fp32", *(v.name for v in variants)}
    ref = rows["eager-fp32"]
    assert ref["max_abs_diff"] == 0 and ref["threshold_shift_in_std"] == pytest.approx(0, abs=1e-6)
    for r in rows.values():
        assert r["cpu_ms_per_frame"] > 0 and len(r["cpu_ms_per_frame_rounds"]) == 2
        assert 0 <= r["micro_auc"] <= 1 and "threshold" in r
    assert rows["eager-bf16"]["precision"] == "bf16"
    assert 0 < rows["eager-bf16"]["max_abs_diff"] < 0.1 * rows["eager-fp32"]["threshold"]
    if "onnx-fp32" in rows:  # the same arithmetic in another runtime
        assert rows["onnx-fp32"]["max_rel_diff"] < 1e-3
    table = model_table(result)
    assert "| eager-bf16 | bf16 |" in table and "shift / std" in table
    assert "windows per pass" not in table


def test_pass_sizes_time_every_variant_on_the_same_windows(
    synthetic_dataset: Path, tiny_artifact: Path
) -> None:
    result = run_model_bench(
        synthetic_dataset, tiny_artifact, [parse_variant("eager-bf16")], windows=6, batch=4,
        rounds=2, accuracy=False, pass_sizes=[1, 3],
    )  # fmt: skip
    got = [(r["variant"], r["windows_per_pass"]) for r in result["pass_sizes"]]
    assert got == [("eager-fp32", 1), ("eager-fp32", 3), ("eager-bf16", 1), ("eager-bf16", 3)]
    assert all(r["cpu_ms_per_frame"] > 0 for r in result["pass_sizes"])
    assert "| eager-bf16 | 3 |" in model_table(result)
