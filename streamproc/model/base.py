"""What every network returns and the loss they share (pure torch, no training code)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamproc.config.training import LossConfig


@dataclass
class ModelOutput:
    recon: torch.Tensor  # (B, C, T, H, W), same shape as the input window
    latent: torch.Tensor  # (B, T, D) one latent code per frame, for latent-distance scoring
    mu: torch.Tensor | None = None  # variational bottleneck only
    logvar: torch.Tensor | None = None
    # (gh, gw) when each latent code is a channel-major (L, gh, gw) grid flattened, so a
    # region of interest can select the cells it covers (latent-knn with an ROI)
    latent_grid: tuple[int, int] | None = None


class AnomalyModel(nn.Module):
    """Base of all networks: reconstruct a window (B, C, T, H, W) in [0, 1]."""

    def forward(self, x: torch.Tensor) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError


def temporal_coherence(x: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """Seed 002's temporal term: frame-to-frame changes of the reconstruction must match
    those of the input, which penalises smooth-but-static reconstructions of motion."""
    dx = x[:, :, 1:] - x[:, :, :-1]  # (B, C, T-1, H, W)
    dr = recon[:, :, 1:] - recon[:, :, :-1]
    return F.mse_loss(dr, dx)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)), averaged per latent element."""
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())


def window_loss(
    x: torch.Tensor, out: ModelOutput, cfg: LossConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """MSE + kl_weight * KL + temporal_weight * temporal coherence."""
    mse = F.mse_loss(out.recon, x)
    total = mse
    parts = {"mse": float(mse.detach())}
    if cfg.temporal_weight > 0 and x.shape[2] > 1:
        temp = temporal_coherence(x, out.recon)
        total = total + cfg.temporal_weight * temp
        parts["temporal"] = float(temp.detach())
    if cfg.kl_weight > 0 and out.mu is not None and out.logvar is not None:
        kl = kl_divergence(out.mu, out.logvar)
        total = total + cfg.kl_weight * kl
        parts["kl"] = float(kl.detach())
    parts["loss"] = float(total.detach())
    return total, parts
