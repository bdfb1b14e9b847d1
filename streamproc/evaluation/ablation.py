"""`streamproc bench scoring`: how the scoring choices change the streaming AUC of one
trained artifact (channels, squared or excess residual, pixel normalisation, patch size)
beside two training-free baselines (frame difference and optical-flow speed). The
network runs once per clip; every variant is derived from the same residuals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamproc.config.smoothing import SmoothingConfig
from streamproc.evaluation.metrics import macro_auc, micro_auc
from streamproc.model.artifact import load_artifact
from streamproc.model.clip import stack_windows
from streamproc.model.scoring import channel_slice, patch_max, residual_map
from streamproc.smoothing.series import smooth_causal
from streamproc.sources.dataset import open_split
from streamproc.sources.frames import read_frames
from streamproc.windowing.preprocess import preprocess_clip
from streamproc.windowing.windows import first_cover, window_starts

PATCHES = (8, 12, 16, 20, 24)
NORMALISED_PATCHES = (12, 20)  # pixel normalisation hurt at every size; two are enough


def _residuals(art: Any, frames: np.ndarray) -> torch.Tensor:
    """Signed residual x - recon per frame (N, C, H, W), each frame from its first window."""
    w = art.config.data.window
    starts = window_starts(len(frames), w.length, w.stride)
    owner = first_cover(len(frames), starts, w.length)
    pos = np.arange(len(frames)) - np.asarray(starts)[owner]
    out = []
    with torch.inference_mode():
        for i in range(0, len(starts), 16):
            x = torch.from_numpy(stack_windows(frames, starts[i : i + 16], w.length))
            out.append(x - art.model(x).recon)  # (B, C, T, H, W)
    return torch.cat(out)[owner, :, pos]


def scoring_ablation(data: Path, artifact: Path) -> list[dict[str, Any]]:
    art = load_artifact(artifact)
    pre = art.config.data.preprocess
    flow_pre = pre.model_copy(update={"motion": "flow"})
    diff_pre = pre.model_copy(update={"motion": "diff", "motion_gain": 1.0})
    pix = art.calibration.pixel_error
    floor = 0.1 * float(pix.mean()) if pix is not None else 0.0
    variants: dict[str, dict[str, np.ndarray]] = {}
    labels: dict[str, np.ndarray] = {}

    def add(name: str, clip: str, value: torch.Tensor) -> None:
        variants.setdefault(name, {})[clip] = value.numpy().astype(np.float64)

    for clip in open_split(data, "test", require_labels=True):
        assert clip.labels is not None
        labels[clip.name] = clip.labels
        raw = list(read_frames(clip.path))
        res = _residuals(art, preprocess_clip(raw, pre))
        diff = torch.from_numpy(preprocess_clip(raw, diff_pre)[:, -1])
        flow = torch.from_numpy(preprocess_clip(raw, flow_pre)[:, -1])
        for which in ("all", "appearance", "motion"):
            if which == "motion" and pre.motion == "none":
                continue
            d = res[:, channel_slice(which, pre.appearance_channels)]
            maps = {kind: residual_map(d, kind) for kind in ("squared", "excess")}
            for kind, err in maps.items():
                for p in PATCHES:
                    add(f"model {which} {kind} p{p}", clip.name, patch_max(err[None], p)[0])
            if pix is not None:  # the calibration map holds the artifact's residual kind
                kind = art.config.scoring.residual
                norm = maps[kind] / (pix + floor + 1e-6)
                for p in NORMALISED_PATCHES:
                    add(
                        f"model {which} {kind} pixel-normalised p{p}",
                        clip.name,
                        patch_max(norm[None], p)[0],
                    )
        for p in PATCHES:
            add(f"baseline frame-difference p{p}", clip.name, patch_max(diff[None], p)[0])
            add(f"baseline optical-flow speed p{p}", clip.name, patch_max(flow[None], p)[0])
    smoothing = art.config.smoothing
    rows = []
    for name, scores in variants.items():
        smoothed = {k: smooth_causal(v, smoothing) for k, v in scores.items()}
        none = {k: smooth_causal(v, SmoothingConfig(kind="none")) for k, v in scores.items()}
        rows.append(
            {
                "variant": name,
                "stream_micro": micro_auc(smoothed, labels),
                "stream_macro": macro_auc(smoothed, labels)[0],
                "unsmoothed_micro": micro_auc(none, labels),
            }
        )
    return rows


def ablation_table(rows: list[dict[str, Any]], artifact: str, version: str) -> str:
    lines = [
        f"Artifact `{artifact}` (version {version}); streaming protocol, causal smoothing "
        "of the artifact's config.",
        "",
        "| variant | stream micro AUC | stream macro AUC | micro AUC without smoothing |",
        "|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: -r["stream_micro"]):
        lines.append(
            f"| {r['variant']} | {r['stream_micro']:.4f} | {r['stream_macro']:.4f} "
            f"| {r['unsmoothed_micro']:.4f} |"
        )
    return "\n".join(lines) + "\n"
