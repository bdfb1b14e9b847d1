"""Calibration on held-out normal footage: the statistics a threshold is built from
(mean + k std as in seed 003, and quantiles), the per-pixel normal error map and the
bank of normal latent codes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from streamproc.config.data import WindowConfig
from streamproc.config.scoring import ScoringConfig
from streamproc.model.base import AnomalyModel
from streamproc.model.clip import iter_batches, score_clip
from streamproc.model.scoring import (
    Calibration,
    WindowScorer,
    channel_slice,
    error_maps,
    fuse,
)
from streamproc.windowing.windows import window_starts

QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)


def score_stats(scores: np.ndarray, cfg: ScoringConfig) -> dict[str, float | dict[str, float]]:
    """Summary of normal frame scores and the threshold they give."""
    mean, std = float(scores.mean()), float(scores.std())
    qs = {f"q{q:g}": float(np.quantile(scores, q)) for q in QUANTILES}
    if cfg.threshold_quantile is not None:
        threshold = float(np.quantile(scores, cfg.threshold_quantile))
    else:
        threshold = mean + cfg.threshold_k * std
    return {
        "mean": mean,
        "std": std,
        "min": float(scores.min()),
        "max": float(scores.max()),
        "quantiles": qs,
        "threshold": threshold,
        "frames": int(scores.size),
    }


@torch.inference_mode()
def calibrate(
    model: AnomalyModel,
    clips: Sequence[np.ndarray],
    window: WindowConfig,
    cfg: ScoringConfig,
    batch: int = 32,
    device: torch.device | str = "cpu",
    seed: int = 0,
    appearance_channels: int = 1,
) -> tuple[Calibration, dict[str, float | dict[str, float]]]:
    """Two passes over held-out normal clips (each (N, C, H, W)): first the error map,
    latent bank and error range; then the configured frame score's statistics."""
    model = model.to(device).eval()
    channels = channel_slice(cfg.channels, appearance_channels)
    err_sum: torch.Tensor | None = None
    count = 0
    codes: list[torch.Tensor] = []
    mean_errors: list[torch.Tensor] = []
    for frames in clips:
        starts = window_starts(frames.shape[0], window.length, window.stride)
        for _, xb in iter_batches(frames, starts, window.length, batch):
            x = torch.as_tensor(xb, device=device)
            out = model(x)
            maps = error_maps(x, out.recon, channels, cfg.residual)  # (B, T, H, W)
            s = maps.sum(dim=(0, 1))
            err_sum = s if err_sum is None else err_sum + s
            count += maps.shape[0] * maps.shape[1]
            mean_errors.append(maps.mean(dim=(2, 3)).flatten())
            codes.append(out.latent.flatten(0, 1))
    if err_sum is None:
        raise ValueError("calibration needs at least one window of held-out normal footage")
    bank = torch.cat(codes)
    if bank.shape[0] > cfg.knn_bank:
        g = torch.Generator().manual_seed(seed)
        bank = bank[torch.randperm(bank.shape[0], generator=g)[: cfg.knn_bank].to(bank.device)]
    me = torch.cat(mean_errors)
    cal = Calibration(
        pixel_error=(err_sum / count).cpu(),
        latent_bank=bank.cpu(),
        error_min=float(me.min()),
        error_max=float(me.max()),
    )
    scorer = WindowScorer(model, cfg, cal, device, appearance_channels)
    per_clip = [score_clip(scorer, f, window, batch).streaming_cues() for f in clips]
    cues = {c: np.concatenate([p[c] for p in per_clip]) for c in per_clip[0]}
    if cfg.fusion == "none":
        scores = cues["score"]
    else:
        cal.cue_stats = {c: (float(v.mean()), float(v.std())) for c, v in cues.items()}
        fused = fuse({c: torch.from_numpy(v) for c, v in cues.items()}, cal.cue_stats)
        scores = fused.numpy()
    return cal, score_stats(scores, cfg)
