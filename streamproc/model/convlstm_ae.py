"""convlstm-ae (seed 002): a spatial conv encoder per frame, a ConvLSTM temporal
encoder and decoder, and a deconvolutional decoder. The seed uses 10-frame windows."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamproc.model.base import AnomalyModel, ModelOutput
from streamproc.model.layers import ConvLSTMCell, down2d, up2d


@dataclass(frozen=True)
class ConvLSTMAEConfig:
    channels: int
    base: int = 32
    hidden: int = 32


class ConvLSTMAE(AnomalyModel):
    def __init__(self, cfg: ConvLSTMAEConfig) -> None:
        super().__init__()
        b = cfg.base
        self.encoder = nn.Sequential(
            down2d(cfg.channels, b), down2d(b, 2 * b), down2d(2 * b, 2 * b)
        )
        self.temporal_enc = ConvLSTMCell(2 * b, cfg.hidden)
        self.temporal_dec = ConvLSTMCell(cfg.hidden, 2 * b)
        self.decoder = nn.Sequential(
            up2d(2 * b, 2 * b),
            up2d(2 * b, b),
            nn.ConvTranspose2d(b, cfg.channels, 4, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> ModelOutput:
        bsz, c, t, h, w = x.shape
        f = self.encoder(x.permute(0, 2, 1, 3, 4).reshape(bsz * t, c, h, w))
        f = f.reshape(bsz, t, *f.shape[1:])  # (B, T, 2b, h/8, w/8)
        state_e = state_d = None
        hidden, decoded = [], []
        for i in range(t):
            state_e = self.temporal_enc(f[:, i], state_e)
            hidden.append(state_e[0])
            state_d = self.temporal_dec(state_e[0], state_d)
            decoded.append(state_d[0])
        d = torch.stack(decoded, 1).reshape(bsz * t, -1, *f.shape[-2:])
        y = torch.sigmoid(self.decoder(d))
        if y.shape[-2:] != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        recon = y.reshape(bsz, t, c, h, w).permute(0, 2, 1, 3, 4)
        hs = torch.stack(hidden, 1).flatten(0, 1)  # (B*T, hidden, h/8, w/8)
        gh, gw = hs.shape[-2:]
        grid = (max(1, gh // 2), max(1, gw // 2))
        code = F.adaptive_avg_pool2d(hs, grid)
        return ModelOutput(recon, code.reshape(bsz, t, -1), latent_grid=grid)
