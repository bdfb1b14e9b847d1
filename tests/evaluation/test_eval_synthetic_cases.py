"""The synthetic cases of issue 22, built from Ped2's own footage: a person standing
where nobody walks (must alert) and a walker scaled up (must not)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from streamproc.cli.app import app
from streamproc.evaluation.synthetic_cases import (
    Case,
    background,
    build_cases,
    foreground,
    load,
    verdicts,
)


def test_verdicts_judge_each_kind_by_its_own_rule() -> None:
    cases = {
        "l1": Case("loiterer", "01", 30, 79, 5, 5, 1.0),
        "l2": Case("loiterer", "02", 30, 79, 5, 5, 1.0),
        "w1": Case("close-walker", "01", 30, 79, 0, 0, 5.0),
        "w2": Case("close-walker", "02", 30, 79, 0, 0, 5.0),
    }
    fps = 10.0
    found = {
        "l1": [(85, 120)],  # 0.6 s after it stood: alerted in time
        "l2": [(110, 130)],  # 3 s after: too late, counts as missed
        "w1": [(5, 10)],  # before the walker came: not its fault
        "w2": [(60, 70)],  # while it walked: a false alarm
    }
    v = verdicts(cases, found, fps)
    assert [v["cases"][k]["passed"] for k in ("l1", "l2", "w1", "w2")] == [
        True, False, True, False,
    ]  # fmt: skip
    assert v["loiterer"] == "1/2" and v["close-walker"] == "1/2"


@pytest.mark.ped2
def test_cases_from_ped2_paste_a_person_where_nobody_walks_and_a_large_walker(
    ped2: Path, tmp_path: Path
) -> None:
    cases = build_cases(ped2, ["03"], tmp_path, fps=10.0)
    labels = json.loads((tmp_path / "test_labels.json").read_text())
    base = load(ped2 / "train" / "03")
    loiter, walker = cases["loiterer-03"], cases["close-walker-03"]
    # The loiterer stands 5 s, labelled anomalous exactly then.
    assert loiter.last - loiter.first + 1 == 50
    assert labels["loiterer-03"] == [
        int(loiter.first <= i <= loiter.last) for i in range(len(base))
    ]
    assert not any(labels["close-walker-03"])  # a walker, however near, is normal
    # Pixels change only inside the pasted box, and only while it stands.
    frames = load(tmp_path / "test" / "loiterer-03")
    changed = [i for i, (a, b) in enumerate(zip(frames, base, strict=True)) if (a != b).any()]
    assert changed == list(range(loiter.first, loiter.last + 1))
    diff = np.abs(frames[loiter.first].astype(int) - base[loiter.first]) > 0
    ys, xs = np.nonzero(diff)
    assert xs.min() >= loiter.x and ys.min() >= loiter.y
    # Where it stands, nobody walks in the base footage.
    bg = background(base)
    h, w = ys.max() - loiter.y + 1, xs.max() - loiter.x + 1
    occupied = np.mean([foreground(f, bg)[loiter.y : loiter.y + h, loiter.x : loiter.x + w].mean()
                        for f in base])  # fmt: skip
    assert occupied <= 0.01
    # The walker is scaled to a quarter of the frame (or 90% of its height).
    H, W = base[0].shape
    grown = load(tmp_path / "test" / "close-walker-03")[walker.first]
    box = np.abs(grown.astype(int) - base[walker.first]) > 8
    ys, xs = np.nonzero(box)
    area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert area >= 0.15 * H * W or ys.max() - ys.min() + 1 >= 0.8 * H
    assert walker.scale > 3


@pytest.mark.ped2
@pytest.mark.slow
def test_bench_synthetic_judges_the_cases_with_an_artifact(
    ped2: Path, tiny_artifact: Path, tmp_path: Path
) -> None:
    out = tmp_path / "verdict.json"
    res = CliRunner().invoke(
        app,
        ["bench", "synthetic", "--data", str(ped2), "--artifact", str(tiny_artifact),
         "--base", "05", "--work", str(tmp_path / "w"), "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    verdict = json.loads(out.read_text())
    assert set(verdict["cases"]) == {"loiterer-05", "close-walker-05"}
    assert verdict["loiterer"] in ("0/1", "1/1") and verdict["close-walker"] in ("0/1", "1/1")
    assert cv2.imread(str(tmp_path / "w" / "test" / "loiterer-05" / "0000.png")) is not None
