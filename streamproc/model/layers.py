"""Building blocks shared by the networks: conv stages, attention over space and time,
and a ConvLSTM cell."""

from __future__ import annotations

import torch
from torch import nn


def down2d(cin: int, cout: int) -> nn.Sequential:
    """3x3 conv, stride 2, batch norm, ReLU: halves H and W."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def up2d(cin: int, cout: int) -> nn.Sequential:
    """4x4 transposed conv, stride 2, batch norm, ReLU: doubles H and W."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention with a residual and a feed-forward layer."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        # No dropout on the attention matrix: on CPU it costs more than the whole encoder.
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(
            nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim)
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (N, L, D) -> (N, L, D)
        h = self.norm1(tokens)
        tokens = tokens + self.attn(h, h, h, need_weights=False)[0]
        return tokens + self.ff(self.norm2(tokens))


class SpaceTimeAttention(nn.Module):
    """Attends over space within each frame, then over time at each location.

    With ``scales=(1, 2, 4)`` the temporal attention also runs on the sequence
    sub-sampled by 2 and 4 (seed 004's 8/16/32-frame spans at sampling 1/2/4) and the
    scales are fused by a learned weighted sum.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        dropout: float,
        grid: tuple[int, int],
        frames: int,
        scales: tuple[int, ...] = (1,),
    ) -> None:
        super().__init__()
        h, w = grid
        # Learned positions: normality is location-specific (a lawn, a walkway).
        self.pos_space = nn.Parameter(torch.zeros(1, h * w, dim))
        self.pos_time = nn.Parameter(torch.zeros(1, frames, dim))
        nn.init.trunc_normal_(self.pos_space, std=0.02)
        nn.init.trunc_normal_(self.pos_time, std=0.02)
        self.spatial = SelfAttention(dim, heads, dropout)
        self.scales = scales
        self.temporal = nn.ModuleList(SelfAttention(dim, heads, dropout) for _ in scales)
        self.fuse = nn.Parameter(torch.ones(len(scales)) / len(scales))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        b, t, d, h, w = f.shape  # (B, T, D, h, w)
        s = f.permute(0, 1, 3, 4, 2).reshape(b * t, h * w, d) + self.pos_space
        s = self.spatial(s)  # (B*T, h*w, D)
        seq = s.reshape(b, t, h * w, d).permute(0, 2, 1, 3).reshape(b * h * w, t, d)
        seq = seq + self.pos_time[:, :t]
        fused = torch.zeros_like(seq)
        weights = torch.softmax(self.fuse, 0)
        for wgt, step, attn in zip(weights, self.scales, self.temporal, strict=True):
            sub = attn(seq[:, ::step])  # (B*h*w, ceil(T/step), D)
            fused = fused + wgt * sub.repeat_interleave(step, dim=1)[:, :t]
        out = fused.reshape(b, h, w, t, d).permute(0, 3, 4, 1, 2)
        return out.contiguous()  # (B, T, D, h, w)


class ConvLSTMCell(nn.Module):
    """LSTM whose gates are 3x3 convolutions (seed 002)."""

    def __init__(self, cin: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(cin + hidden, 4 * hidden, 3, padding=1)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if state is None:
            z = x.new_zeros(x.shape[0], self.hidden, x.shape[2], x.shape[3])
            state = (z, z)
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c
