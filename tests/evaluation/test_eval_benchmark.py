"""`bench detection` over several scenes: each scene reported on its own beside the
training-free baselines, and the mean over scenes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from streamproc.cli.app import app
from tests.conftest import synthetic_clip, write_clip

pytestmark = pytest.mark.slow


def scene(root: Path, seed: int, size: tuple[int, int]) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(3):
        write_clip(root / "train" / f"{i:02d}", synthetic_clip(32, rng, size=size))
    labels = {}
    for i, span in enumerate([(8, 20), (14, 28)]):
        write_clip(root / "test" / f"{i:02d}", synthetic_clip(32, rng, span, size=size))
        labels[f"{i:02d}"] = [int(span[0] <= t < span[1]) for t in range(32)]
    (root / "test_labels.json").write_text(json.dumps(labels))
    return root


def test_bench_detection_reports_each_scene_and_the_mean(tmp_path: Path) -> None:
    a = scene(tmp_path / "scene-a", 1, (48, 64))
    b = scene(tmp_path / "scene-b", 2, (60, 80))
    out = tmp_path / "bench"
    args = ["bench", "detection", "--data", str(a), "--data", str(b), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--model", "attention-ae", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    res = json.loads((out / "results.json").read_text())
    rows = {(r["scene"], r["model"]) for r in res["rows"]}
    for s in ("scene-a", "scene-b"):
        assert (s, "attention-ae") in rows
        assert (s, "baseline: frame difference (no training)") in rows
        assert (s, "baseline: flow speed (no training)") in rows
    assert (out / "scene-a" / "attention-ae" / "weights.safetensors").exists()
    mean = {r["model"]: r for r in res["mean"]}["attention-ae"]
    per = [r for r in res["rows"] if r["model"] == "attention-ae"]
    assert mean["stream_micro"] == pytest.approx(np.mean([r["stream_micro"] for r in per]))
    for r in per:  # runtime and fixed decisions, frame and event level
        assert 0 <= r["false_alarm_rate"] <= 1 and 0 <= r["fixed_false_alarm_rate"] <= 1
        assert r["event_recall"] is not None and r["windows"]["training"] > 0
        assert r["incidents_at_start"] >= 0 and set(r["clip_auc"]) == {"00", "01"}
    table = (out / "table.md").read_text()
    assert "| mean | attention-ae |" in table and "event recall" in table
    assert "incidents in 2 s of a start" in table and "Per-clip streaming AUC" in table
    header = next(line for line in table.splitlines() if line.startswith("| scene | model |"))
    first = next(line for line in table.splitlines() if line.startswith("| scene-a |"))
    assert header.count("|") == first.count("|")  # every row has the header's columns


def test_bench_detection_checks_every_scene_before_training(tmp_path: Path) -> None:
    a = scene(tmp_path / "scene-a", 1, (48, 64))
    args = ["bench", "detection", "--data", str(a), "--data", str(tmp_path / "nowhere")]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "o"), "--epochs", "1"])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not (tmp_path / "o" / "scene-a").exists()


def test_bench_detection_overrides_reach_training_and_reuse_checks_them(tmp_path: Path) -> None:
    a = scene(tmp_path / "scene-a", 1, (48, 64))
    out = tmp_path / "bench"
    args = ["bench", "detection", "--data", str(a), "--out", str(out), "--model", "attention-ae"]
    args += ["--epochs", "1"]
    flow = ["--set", "data.preprocess.flow_scale=1.5"]
    result = CliRunner().invoke(app, [*args, *flow])
    assert result.exit_code == 0, result.output
    art = json.loads((out / "scene-a" / "attention-ae" / "config.json").read_text())
    assert art["data"]["preprocess"]["flow_scale"] == 1.5
    assert "Override: `data.preprocess.flow_scale=1.5`" in (out / "table.md").read_text()
    # --reuse takes the artifact only if it was trained with the same settings.
    again = CliRunner().invoke(app, [*args, *flow, "--reuse"])
    assert again.exit_code == 0 and "reusing artifact" in again.output
    other = CliRunner().invoke(app, [*args, "--reuse"])
    assert other.exit_code == 0 and "trained with other settings" in other.output

    bad = CliRunner().invoke(app, [*args, "--set", "data.no_such=1"])
    assert bad.exit_code == 2 and "'data.no_such' is not a config path" in bad.output
    bad = CliRunner().invoke(app, [*args, "--set", "data.preprocess.flow_scale"])
    assert bad.exit_code == 2 and "not path=value" in bad.output
