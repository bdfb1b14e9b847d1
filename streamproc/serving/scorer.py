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

from streamproc.model.artifact import Artifact, load_artifact
from streamproc.model.device import pick_device
from streamproc.model.scoring import patch_max
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
    error: str | None = None


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


class ScoringService:
    """Holds one artifact at a time; ``load`` swaps it atomically, and a call that
    started on the old model finishes on it (no dropped in-flight request)."""

    def __init__(self, artifact: str | Path, device: str = "auto") -> None:
        self.device = pick_device(device)
        self._lock = threading.Lock()
        self.artifact_path = ""
        self._art: Artifact | None = None
        self.load(artifact)

    @property
    def version(self) -> str:
        return self.artifact.version

    @property
    def artifact(self) -> Artifact:
        assert self._art is not None
        return self._art

    def load(self, path: str | Path) -> str:
        art = load_artifact(path)  # fully built before the swap
        art.model.to(self.device).eval()
        with self._lock:
            self._art, self.artifact_path = art, str(path)
        return art.version

    def preprocess(self, art: Artifact, req: ScoreRequest) -> np.ndarray:
        """(C, T, H, W) model input, identical to offline ``preprocess_clip`` on the clip."""
        pre = FramePreprocessor(art.config.data.preprocess)
        if req.context is not None:
            pre(req.context)
        return np.stack([pre(f) for f in req.frames], axis=1)

    @torch.inference_mode()
    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        art = self.artifact  # one consistent model for the whole batch
        if not requests:
            return []
        scorer = art.scorer(self.device)
        x = np.stack([self.preprocess(art, r) for r in requests])
        xt, out = scorer.forward(x)
        maps = scorer.normalised_maps(xt, out)  # (B, T, H, W)
        h, w = maps.shape[-2:]
        masks = [roi_mask(r.roi, r.exclude, h, w) for r in requests]
        if any(m is not None for m in masks):
            stacked = np.stack([np.ones((h, w), np.float32) if m is None else m for m in masks])
            maps = maps * torch.from_numpy(stacked).to(maps.device)[:, None]
        if art.config.scoring.method == "patch-max":
            scores = patch_max(maps, art.config.scoring.patch).cpu().numpy()
        else:  # the other methods do not pool an error map, so the ROI does not apply
            scores = scorer.score(x).frame_scores
        results = []
        maps_np = maps.cpu().numpy() if any(r.heatmap for r in requests) else None
        for i, r in enumerate(requests):
            thumb = None
            # Only windows that may alert carry a thumbnail: it rides on the alert event.
            if r.heatmap and maps_np is not None and max(scores[i]) >= art.threshold:
                thumb = thumbnail(maps_np[i][int(np.argmax(scores[i]))])
            results.append(
                ScoreResult(r.camera, r.seq, [float(s) for s in scores[i]], art.version, thumb)
            )
        return results
