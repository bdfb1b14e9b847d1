"""From a window and its reconstruction to per-frame anomaly scores and error maps.

Pure functions over tensors plus a small ``WindowScorer`` that holds a model and its
calibration; the same scorer runs in evaluation, in the Serve deployment and in
benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from streamproc.config.scoring import ScoringConfig
from streamproc.model.base import AnomalyModel, ModelOutput

EPS = 1e-6


def error_maps(
    x: torch.Tensor,
    recon: torch.Tensor,
    channels: slice = slice(None),
    residual: str = "squared",
) -> torch.Tensor:
    """Per-pixel error averaged over the selected channels: (B, C, T, H, W) -> (B, T, H, W).
    'squared': (x - recon)^2; 'excess': max(x - recon, 0), the part of the input above
    its reconstruction (on a motion channel: more motion than the network expected)."""
    diff = x[:, channels] - recon[:, channels]
    if diff.shape[1] == 0:
        raise ValueError(
            f"the scored channels select none of the input's {x.shape[1]} channel(s): "
            "scoring.channels 'motion' needs a motion channel (data.preprocess.motion)"
        )
    return residual_map(diff, residual)


def residual_map(diff: torch.Tensor, residual: str) -> torch.Tensor:
    """Signed residuals x - recon (B, C, ...) -> per-pixel error averaged over C."""
    if residual == "excess":
        return diff.clamp(min=0).mean(dim=1)
    return diff.pow(2).mean(dim=1)


def channel_slice(which: str, appearance_channels: int) -> slice:
    """The channels ScoringConfig.channels names; the motion channel comes last."""
    if which == "appearance":
        return slice(0, appearance_channels)
    if which == "motion":
        return slice(appearance_channels, None)
    return slice(None)


def patch_max(maps: torch.Tensor, patch: int) -> torch.Tensor:
    """Max over half-overlapping patches of the mean error in each patch:
    (B, T, H, W) -> (B, T). A small object is not averaged away by the whole frame."""
    b, t, h, w = maps.shape
    k = max(1, min(patch, h, w))
    pooled = F.avg_pool2d(maps.reshape(b * t, 1, h, w), k, stride=max(1, k // 2))
    return pooled.reshape(b, t, -1).amax(dim=2)


def regularity(mean_error: torch.Tensor, e_min: float, e_max: float) -> torch.Tensor:
    """Seed 002's regularity s(t) = 1 - (e(t) - min) / max, with min and max taken from
    calibration (a live stream cannot see the clip's own extremes)."""
    return 1.0 - (mean_error - e_min) / max(e_max, EPS)


def knn_distance(codes: torch.Tensor, bank: torch.Tensor, k: int) -> torch.Tensor:
    """Mean Euclidean distance of each code (N, D) to its k nearest rows of bank (M, D)."""
    d = torch.cdist(codes, bank)  # (N, M)
    k = min(k, bank.shape[0])
    return d.topk(k, dim=1, largest=False).values.mean(dim=1)


@dataclass
class Calibration:
    """What the scorer needs from held-out normal data (see ``calibration.py``)."""

    pixel_error: torch.Tensor | None = None  # (H, W) mean error map of normal windows
    latent_bank: torch.Tensor | None = None  # (M, D) per-frame latent codes of normal data
    error_min: float = 0.0
    error_max: float = 1.0


@dataclass
class WindowScores:
    frame_scores: np.ndarray  # (B, T) the configured score
    mean_error: np.ndarray  # (B, T) plain MSE, always reported
    error_maps: np.ndarray | None  # (B, T, H, W) when requested (heatmaps)
    recon: np.ndarray | None  # (B, C, T, H, W) when requested (videos)


class WindowScorer:
    """Scores batches of windows (B, C, T, H, W) with a trained model."""

    def __init__(
        self,
        model: AnomalyModel,
        cfg: ScoringConfig,
        calibration: Calibration | None = None,
        device: torch.device | str = "cpu",
        appearance_channels: int = 1,
    ) -> None:
        self.device = torch.device(device)
        self.channels = channel_slice(cfg.channels, appearance_channels)
        self.model = model.to(self.device).eval()
        self.cfg = cfg
        self.cal = calibration or Calibration()
        if self.cal.pixel_error is not None:
            self.cal.pixel_error = self.cal.pixel_error.to(self.device)
        if self.cal.latent_bank is not None:
            self.cal.latent_bank = self.cal.latent_bank.to(self.device)

    @torch.inference_mode()
    def forward(self, windows: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, ModelOutput]:
        x = torch.as_tensor(windows, dtype=torch.float32, device=self.device)
        return x, self.model(x)

    def normalised_maps(self, x: torch.Tensor, out: ModelOutput) -> torch.Tensor:
        maps = error_maps(x, out.recon, self.channels, self.cfg.residual)
        if self.cfg.normalize_pixels and self.cal.pixel_error is not None:
            maps = maps / (self.cal.pixel_error + self.cal.pixel_error.mean() * 0.1 + EPS)
        return maps

    @torch.inference_mode()
    def score(
        self, windows: np.ndarray | torch.Tensor, with_maps: bool = False, with_recon: bool = False
    ) -> WindowScores:
        x, out = self.forward(windows)
        raw = error_maps(x, out.recon, self.channels, self.cfg.residual)
        mean_err = raw.mean(dim=(2, 3))  # (B, T)
        maps = self.normalised_maps(x, out)
        method = self.cfg.method
        if method == "patch-max":
            s = patch_max(maps, self.cfg.patch)
        elif method == "mean":
            s = mean_err
        elif method == "regularity":
            s = 1.0 - regularity(mean_err, self.cal.error_min, self.cal.error_max)
        else:
            if self.cal.latent_bank is None:
                raise ValueError(
                    "latent-knn scoring needs a calibrated latent bank in the artifact"
                )
            b, t, d = out.latent.shape
            s = knn_distance(out.latent.reshape(b * t, d), self.cal.latent_bank, self.cfg.knn_k)
            s = s.reshape(b, t)
        return WindowScores(
            frame_scores=s.float().cpu().numpy(),
            mean_error=mean_err.float().cpu().numpy(),
            error_maps=maps.float().cpu().numpy() if with_maps else None,
            recon=out.recon.float().cpu().numpy() if with_recon else None,
        )
