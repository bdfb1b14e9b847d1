"""The demo model of `streamproc run`: trained once with its progress shown, then read
from the cache without training or a progress display."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streamproc.model.artifact import load_artifact
from streamproc.runtime import demo
from tests.helpers import TINY


@pytest.mark.slow
def test_the_demo_model_trains_once_with_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "DEMO_MODEL", {**TINY, "training.epochs": 2})
    monkeypatch.setattr(
        demo, "write_normal_footage", functools.partial(demo.write_normal_footage, frames=400)
    )
    entered: list[str] = []
    steps: list[tuple[int, int]] = []

    @contextmanager
    def progress() -> Iterator[tuple[demo.StepHook, None]]:
        entered.append("progress")
        yield (lambda epoch, epochs, step, n, parts: steps.append((epoch, epochs)), None)

    lines: list[str] = []
    first = demo.demo_artifact(tmp_path, lines.append, progress)
    assert entered == ["progress"]
    assert {e for e, _ in steps} == {0, 1} and {n for _, n in steps} == {2}
    assert any("training a small demo model" in line for line in lines)
    assert load_artifact(first).config.training.epochs == 2

    lines.clear()
    again = demo.demo_artifact(tmp_path, lines.append, progress)
    assert again == first and entered == ["progress"] and lines == []  # cached: no training
