"""conv3d-ae (seed 003): 3x3x3 Conv3d with 64 and 128 filters and stride (1, 2, 2),
mirrored by transposed convolutions. The seed uses 10 x 64 x 64 windows."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamproc.model.base import AnomalyModel, ModelOutput


@dataclass(frozen=True)
class Conv3dAEConfig:
    channels: int
    base: int = 64  # seed 003: 64 then 128 filters


def _enc(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, stride=(1, 2, 2), padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class Conv3dAE(AnomalyModel):
    def __init__(self, cfg: Conv3dAEConfig) -> None:
        super().__init__()
        b = cfg.base
        self.encoder = nn.Sequential(_enc(cfg.channels, b), _enc(b, 2 * b))
        self.decoder = nn.Sequential(
            nn.ConvTranspose3d(2 * b, b, (3, 4, 4), stride=(1, 2, 2), padding=1, bias=False),
            nn.BatchNorm3d(b),
            nn.ReLU(inplace=True),
            nn.ConvTranspose3d(b, cfg.channels, (3, 4, 4), stride=(1, 2, 2), padding=1),
        )

    def forward(self, x: torch.Tensor) -> ModelOutput:
        _, _, t, h, w = x.shape
        z = self.encoder(x)  # (B, 2b, T, H/4, W/4)
        y = torch.sigmoid(self.decoder(z))  # (B, C, T, ~H, ~W)
        if y.shape[-3:] != (t, h, w):
            y = F.interpolate(y, size=(t, h, w), mode="trilinear", align_corners=False)
        gh, gw = z.shape[-2:]
        grid = (max(1, gh // 4), max(1, gw // 4))
        code = F.adaptive_avg_pool3d(z, (t, *grid))
        code = code.permute(0, 2, 1, 3, 4).reshape(x.shape[0], t, -1)
        return ModelOutput(y, code, latent_grid=grid)
