"""The compiled engine: the same scores as eager torch, compiled when the scorer is built
(not again per call or per memory layout), refused when it drifts from eager torch, and a
clear error without a C++ compiler."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch._dynamo.utils import counters

from streamproc.errors import ConfigError
from streamproc.model import engine, scoring
from streamproc.model.artifact import load_artifact
from streamproc.model.base import AnomalyModel, ModelOutput


def windows(n: int, shape: tuple[int, int, int, int], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


@pytest.mark.slow
def test_compiled_scores_equal_eager_and_do_not_recompile(tiny_artifact: Path) -> None:
    if engine.cpp_compiler() is None:
        pytest.skip("no C++ compiler on this machine")
    art = load_artifact(tiny_artifact)
    shape = art.window_shape
    eager = art.scorer("cpu")
    compiled = art.scorer("cpu", engine="compile")  # compiles for batches of 1 and of 2+
    for n in (1, 3, 5):
        x = windows(n, shape, seed=n)
        np.testing.assert_allclose(
            compiled.score(x).frame_scores, eager.score(x).frame_scores, rtol=1e-4, atol=1e-5
        )
    # Dynamo may add a graph for a batch size outside the first one's range (here, on the
    # tiny model, 5), but not one per call, and not one per memory layout: a transposed
    # batch (as clips are cut into windows) and sizes seen before reuse what is there.
    graphs = counters["stats"]["unique_graphs"]
    t = windows(3, (shape[1], shape[0], *shape[2:])).transpose(0, 2, 1, 3, 4)
    np.testing.assert_allclose(
        compiled.score(t).frame_scores, eager.score(t).frame_scores, rtol=1e-4, atol=1e-5
    )
    for n in (1, 3, 5):
        compiled.score(windows(n, shape, seed=10 + n))
    assert counters["stats"]["unique_graphs"] == graphs


def test_compile_without_a_compiler_says_what_to_do(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CXX", raising=False)
    assert engine.cpp_compiler() is None
    with pytest.raises(ConfigError, match=r"serving\.engine is 'compile'.*install g\+\+"):
        load_artifact(tiny_artifact).scorer("cpu", engine="compile")


def test_eager_is_the_model_itself(tiny_artifact: Path) -> None:
    art = load_artifact(tiny_artifact)
    assert art.scorer("cpu").network is art.model
    assert engine.build_network(art.model, "eager", torch.device("cpu")) is art.model


def test_a_compiled_network_that_drifts_from_eager_is_refused(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What warm_up guards against: generated code that computes something else."""

    def drifting(model: AnomalyModel, *_: object) -> engine.Network:
        def run(x: torch.Tensor) -> ModelOutput:
            out = model(x)
            return replace(out, recon=out.recon + 0.01)

        return run

    monkeypatch.setattr(scoring, "build_network", drifting)
    with pytest.raises(ConfigError, match=r"0\.01 away from eager torch \(fp32\).*'eager'"):
        load_artifact(tiny_artifact).scorer("cpu", engine="compile")
    # bf16 rounds coarser, and is allowed to: the same drift passes there.
    assert load_artifact(tiny_artifact).scorer("cpu", "bf16", "compile").engine == "compile"
