"""attention-ae: the primary model (seeds 000 and 004).

A per-frame convolutional encoder, a self-attention block that attends over space
and then over time between encoder and decoder, an optional variational bottleneck,
and a mirrored decoder. Input and output are windows (B, C, T, H, W) in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamproc.model.base import AnomalyModel, ModelOutput
from streamproc.model.layers import SpaceTimeAttention, down2d, up2d


@dataclass(frozen=True)
class AttentionAEConfig:
    channels: int  # input channels C
    frames: int  # window length T
    height: int
    width: int
    base: int = 32
    latent: int = 16
    heads: int = 4
    dropout: float = 0.1
    multiscale: bool = False
    variational: bool = False
    predict_motion: bool = False  # hide the motion channels from the encoder
    predict_frames: int = 0  # hide the last frames of the window from the encoder
    appearance_channels: int = 1


class AttentionAE(AnomalyModel):
    def __init__(self, cfg: AttentionAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        b, width = cfg.base, 2 * cfg.base
        self.encoder = nn.Sequential(
            down2d(cfg.channels, b), down2d(b, width), down2d(width, width)
        )
        grid = (-(-cfg.height // 8), -(-cfg.width // 8))  # ceil: conv stride 2 with padding 1
        scales = (1, 2, 4) if cfg.multiscale else (1,)
        self.attention = SpaceTimeAttention(width, cfg.heads, cfg.dropout, grid, cfg.frames, scales)
        # The squeeze to a narrow latent is what keeps the AE from learning the identity.
        self.to_latent = nn.Conv2d(width, cfg.latent * (2 if cfg.variational else 1), 1)
        self.from_latent = nn.Sequential(nn.Conv2d(cfg.latent, width, 1), nn.ReLU(inplace=True))
        self.decoder = nn.Sequential(
            up2d(width, width),
            up2d(width, b),
            nn.ConvTranspose2d(b, cfg.channels, 4, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> ModelOutput:
        bsz, c, t, h, w = x.shape
        if self.cfg.predict_motion:
            # Appearance-motion correspondence: the network sees appearance only and must
            # predict the motion channel, so motion its appearance does not explain (a
            # fast bicycle among walkers) leaves a residual.
            a = self.cfg.appearance_channels
            x = torch.cat([x[:, :a], torch.zeros_like(x[:, a:])], 1)
        if self.cfg.predict_frames:
            # Future-frame prediction: the last frames are hidden, so what the decoder
            # writes there is a prediction from the frames before them.
            keep = t - min(self.cfg.predict_frames, t - 1)
            x = torch.cat([x[:, :, :keep], torch.zeros_like(x[:, :, keep:])], 2)
        frames = x.permute(0, 2, 1, 3, 4).reshape(bsz * t, c, h, w)
        f = self.encoder(frames)  # (B*T, 2b, h/8, w/8)
        gh, gw = f.shape[-2:]
        f = self.attention(f.reshape(bsz, t, -1, gh, gw)).reshape(bsz * t, -1, gh, gw)
        z = self.to_latent(f)  # (B*T, L or 2L, h/8, w/8)
        mu = logvar = None
        if self.cfg.variational:
            mu, logvar = z.chunk(2, 1)
            logvar = logvar.clamp(-10, 10)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        y = torch.sigmoid(self.decoder(self.from_latent(z)))  # (B*T, C, ~h, ~w)
        if y.shape[-2:] != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        recon = y.reshape(bsz, t, c, h, w).permute(0, 2, 1, 3, 4)
        grid = (max(1, gh // 2), max(1, gw // 2))
        code = F.adaptive_avg_pool2d(z, grid)
        return ModelOutput(recon, code.reshape(bsz, t, -1), mu, logvar, grid)
