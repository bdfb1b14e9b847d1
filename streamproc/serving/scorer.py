"""The pure scoring core behind the Serve deployment: decoded frame windows of many
cameras in, per-frame scores out. No Ray here, so it is testable and reusable in-process.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from streamproc.config.serving import DEFAULT_ENGINE, DEFAULT_PRECISION
from streamproc.cpu import stage
from streamproc.model.artifact import Artifact, load_artifact
from streamproc.model.device import Precision, PrecisionSetting, pick_device, resolve_precision
from streamproc.model.engine import Engine
from streamproc.model.scoring import WindowScorer
from streamproc.serving.frame_cache import FrameCache, frame_digest, frame_key
from streamproc.windowing.preprocess import FramePreprocessor

Polygon = list[tuple[float, float]]


@dataclass
class ScoreRequest:
    camera: str
    seq: int
    frames: np.ndarray  # (T, H, W[, 3]) uint8 camera frames
    context: np.ndarray | None = None  # the frame before ``seq``
    roi: list[Polygon] = field(default_factory=list)
    exclude: list[Polygon] = field(default_factory=list)
    heatmap: bool = False


@dataclass
class ScoreResult:
    camera: str
    seq: int
    scores: list[float]  # one per window frame
    model_version: str
    heatmap_png_b64: str | None = None
    error: str | None = None  # this window could not be scored (why); scores is empty


def roi_mask(
    roi: list[Polygon], exclude: list[Polygon], height: int, width: int
) -> np.ndarray | None:
    """1 where error counts, 0 elsewhere; None when the whole frame counts."""
    if not roi and not exclude:
        return None
    mask = np.zeros((height, width), np.uint8) if roi else np.ones((height, width), np.uint8)
    scale = np.array([width, height], np.float32)
    for poly in roi:
        cv2.fillPoly(mask, [np.round(np.asarray(poly, np.float32) * scale).astype(np.int32)], 1)
    for poly in exclude:
        cv2.fillPoly(mask, [np.round(np.asarray(poly, np.float32) * scale).astype(np.int32)], 0)
    return mask.astype(np.float32)


def thumbnail(error_map: np.ndarray, width: int = 96) -> str:
    m = error_map / max(float(error_map.max()), 1e-6)
    h = max(1, round(m.shape[0] * width / m.shape[1]))
    img = cv2.applyColorMap((cv2.resize(m, (width, h)) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    ok, buf = cv2.imencode(".png", img)
    return base64.b64encode(buf.tobytes()).decode() if ok else ""


# Most windows in one forward pass on a CPU. Measured on the Ped2 attention-ae, one
# thread (BENCHMARKS.md, "Forward passes of at most 8 windows"): bf16 4.5 ms per frame
# at 4-8 windows against 5.5 at 32, fp32 6.3-6.5 against 9.2; larger passes spill the
# caches. A GPU takes whatever the batch holds.
CPU_FORWARD_WINDOWS = 8


class ScoringService:
    """Holds one artifact and its scorer at a time; ``load`` swaps both atomically, and a
    call that started on the old model finishes on it (no dropped in-flight request).

    One bad request fails only itself: a window that cannot be preprocessed or scored
    comes back with ``error`` set while the rest of the batch is scored."""

    def __init__(
        self,
        artifact: str | Path,
        device: str = "auto",
        cache_frames: int = 1024,
        threads: int | None = None,
        precision: PrecisionSetting = DEFAULT_PRECISION,
        engine: Engine = DEFAULT_ENGINE,
        forward_windows: int | None = None,
    ) -> None:
        """``forward_windows``: most windows per forward pass (None: CPU_FORWARD_WINDOWS on
        a CPU, unbounded on a GPU)."""
        if threads:  # process-wide: one model per process (a replica, or a worker's own)
            torch.set_num_threads(threads)
            cv2.setNumThreads(threads)
        self.device = pick_device(device)
        self.precision: Precision = resolve_precision(precision, self.device)
        self.engine: Engine = engine
        default = CPU_FORWARD_WINDOWS if self.device.type == "cpu" else 1 << 30
        self.forward_windows = max(1, forward_windows or default)
        self.cache = FrameCache(cache_frames)
        self._lock = threading.Lock()
        self.artifact_path = ""
        self._loaded: tuple[Artifact, WindowScorer] | None = None
        self.load(artifact)

    @property
    def version(self) -> str:
        return self.artifact.version

    @property
    def artifact(self) -> Artifact:
        assert self._loaded is not None
        return self._loaded[0]

    def load(self, path: str | Path) -> str:
        art = load_artifact(path)  # fully built before the swap
        # once per artifact, not per batch; a compiled engine compiles here
        scorer = art.scorer(self.device, self.precision, self.engine)
        with self._lock:
            self._loaded, self.artifact_path = (art, scorer), str(path)
            self.cache = FrameCache(self.cache.capacity)  # inputs of the old preprocessing
        return art.version

    def preprocess(self, art: Artifact, req: ScoreRequest) -> np.ndarray:
        """(C, T, H, W) model input, identical to offline ``preprocess_clip`` on the clip;
        frames preprocessed for an earlier (overlapping) window come from the cache."""
        pre = FramePreprocessor(art.config.data.preprocess)
        cache = self.cache
        prev, prev_key = req.context, frame_digest(req.context)
        held = prev is None  # the preprocessor's previous frame is ``prev`` (or none)
        out = []
        for f in req.frames:
            key = frame_digest(f)
            cache_key = frame_key(prev_key, key)
            x = cache.get(cache_key)
            if x is not None:
                held = False  # a cached frame was not run through ``pre``
            else:
                if not held:  # only a frame computed here needs the one before it
                    assert prev is not None
                    pre.prime(prev)
                x = pre(f)
                cache.put(cache_key, x)
                held = True  # ``pre`` now holds ``f``
            out.append(x)
            prev, prev_key = f, key
        return np.stack(out, axis=1)

    @torch.inference_mode()
    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        assert self._loaded is not None
        art, scorer = self._loaded  # one consistent model for the whole batch
        results: list[ScoreResult | None] = [None] * len(requests)
        groups: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
        for i, r in enumerate(requests):
            try:
                with stage("preprocess"):
                    x = self.preprocess(art, r)
            except Exception as err:  # this window only: it is reported, not raised
                results[i] = _failed(r, art.version, err)
                continue
            groups.setdefault(x.shape, []).append((i, x))
        n = self.forward_windows
        for members in groups.values():  # windows of one shape share forward passes
            for at in range(0, len(members), n):
                self._score_group(art, scorer, requests, members[at : at + n], results)
        return [r for r in results if r is not None]

    def _score_group(
        self,
        art: Artifact,
        scorer: WindowScorer,
        requests: list[ScoreRequest],
        members: list[tuple[int, np.ndarray]],
        results: list[ScoreResult | None],
    ) -> None:
        idx = [i for i, _ in members]
        reqs = [requests[i] for i in idx]
        h, w = members[0][1].shape[-2:]
        masks = [roi_mask(r.roi, r.exclude, h, w) for r in reqs]
        stacked = None
        if any(m is not None for m in masks):
            stacked = np.stack([np.ones((h, w), np.float32) if m is None else m for m in masks])
        try:
            with stage("model"):
                out = scorer.score(
                    np.stack([x for _, x in members]),
                    with_maps=any(r.heatmap for r in reqs),
                    masks=stacked,
                    map_min_score=art.threshold,
                )
        except Exception as err:
            if len(members) == 1:
                results[idx[0]] = _failed(reqs[0], art.version, err)
                return
            for one in members:  # find the culprit: every other window is still scored
                self._score_group(art, scorer, requests, [one], results)
            return
        # Only windows that may alert carry a thumbnail (it rides on the alert event), and
        # only their maps left the device.
        mapped = {row: k for k, row in enumerate(out.map_rows or [])}
        for j, (i, r) in enumerate(zip(idx, reqs, strict=True)):
            scores = out.frame_scores[j]
            thumb = None
            if r.heatmap and out.error_maps is not None and j in mapped:
                with stage("heatmap"):
                    thumb = thumbnail(out.error_maps[mapped[j]][int(np.argmax(scores))])
            results[i] = ScoreResult(
                r.camera, r.seq, [float(v) for v in scores], art.version, thumb
            )


def _failed(req: ScoreRequest, version: str, err: Exception) -> ScoreResult:
    return ScoreResult(req.camera, req.seq, [], version, error=f"{type(err).__name__}: {err}")
