"""The scoring core behind the Serve deployment (no Ray): one forward pass per batch with
the scorer built once per artifact, regions of interest for every scoring method, and a
bad window that fails only itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from streamproc.model.artifact import load_artifact, save_artifact
from streamproc.serving.scorer import ScoreRequest, ScoringService

LEFT_HALF = [[(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]]


def frames(seed: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(80, 120, (n, 48, 64), np.uint8)


def with_blob(f: np.ndarray) -> np.ndarray:
    out = f.copy()
    out[:, 10:30, 2:20] = 250  # in the left half
    return out


def count_forward(svc: ScoringService) -> list[int]:
    assert svc._loaded is not None
    model = svc._loaded[1].model
    calls: list[int] = []
    original = model.forward

    def counted(x: torch.Tensor):  # type: ignore[no-untyped-def]
        calls.append(int(x.shape[0]))
        return original(x)

    model.forward = counted  # type: ignore[method-assign]
    return calls


def test_one_forward_pass_per_batch_and_one_scorer_per_artifact(tiny_artifact: Path) -> None:
    svc = ScoringService(tiny_artifact, "cpu")
    calls = count_forward(svc)
    scorer = svc._loaded[1] if svc._loaded else None
    reqs = [ScoreRequest(f"cam{i}", 0, frames(i)) for i in range(5)]
    out = svc.score(reqs)
    assert calls == [5] and [r.camera for r in out] == [r.camera for r in reqs]
    svc.score(reqs[:2])
    assert svc._loaded is not None and svc._loaded[1] is scorer  # built once, not per batch


@pytest.mark.parametrize("method", ["patch-max", "mean", "regularity", "latent-knn"])
def test_regions_of_interest_apply_to_every_method(
    tiny_artifact: Path, tmp_path: Path, method: str
) -> None:
    art = load_artifact(tiny_artifact)
    art.config.scoring = art.config.scoring.model_copy(update={"method": method, "fusion": "none"})
    save_artifact(art, tmp_path / method)
    svc = ScoringService(tmp_path / method, "cpu")
    base = frames(1)
    clean, blob, masked = svc.score(
        [
            ScoreRequest("a", 0, base, exclude=LEFT_HALF),
            ScoreRequest("b", 0, with_blob(base)),
            ScoreRequest("c", 0, with_blob(base), exclude=LEFT_HALF),
        ]
    )
    effect = np.abs(np.subtract(blob.scores, clean.scores)).max()
    left = np.abs(np.subtract(masked.scores, clean.scores)).max()
    # Excluded, the blob no longer counts; what is left is its reach through the network's
    # attention into the counted half (exact masking is tested on WindowScorer). Before
    # the one scoring path, the mask was ignored by every method but patch-max.
    assert effect > 0 and left < 0.6 * effect


def test_a_bad_window_fails_only_itself(tiny_artifact: Path) -> None:
    svc = ScoringService(tiny_artifact, "cpu")
    good = ScoreRequest("good", 0, frames(0))
    bad = ScoreRequest("bad", 4, np.zeros((4, 48, 64), np.float32))  # not uint8
    short = ScoreRequest("short", 8, frames(2, n=3))  # another frame count: its own batch
    out = svc.score([good, bad, short])
    assert [r.camera for r in out] == ["good", "bad", "short"]
    assert out[0].error is None and len(out[0].scores) == 4
    assert out[1].error is not None and "uint8" in out[1].error and out[1].scores == []
    assert out[2].error is None and len(out[2].scores) == 3


def test_overlapping_windows_reuse_preprocessed_frames_without_changing_scores(
    tiny_artifact: Path,
) -> None:
    clip = np.random.default_rng(5).integers(0, 255, (16, 48, 64), np.uint8)
    windows = [  # length 4, stride 2: each window shares 2 frames with the one before
        ScoreRequest("cam", s, clip[s : s + 4], clip[s - 1] if s else None) for s in range(0, 13, 2)
    ]
    cached = ScoringService(tiny_artifact, "cpu")
    plain = ScoringService(tiny_artifact, "cpu", cache_frames=0)
    got = [r.scores for w in windows for r in cached.score([w])]
    want = [r.scores for w in windows for r in plain.score([w])]
    np.testing.assert_array_equal(got, want)
    assert cached.cache.hits == 2 * (len(windows) - 1)  # every overlapping frame, once
    assert plain.cache.hits == 0
