"""Training data: preprocessed clips in memory, a calibration hold-out, and a window
dataset with augmentation."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from streamproc.config.data import AugmentConfig, DataConfig
from streamproc.errors import DataError
from streamproc.sources.dataset import Clip, open_split
from streamproc.sources.frames import read_frames
from streamproc.windowing.preprocess import preprocess_clip
from streamproc.windowing.windows import window_starts


@dataclass
class LoadedClip:
    name: str
    frames: np.ndarray  # (N, C, H, W) float32
    labels: np.ndarray | None = None


def load_clips(
    clips: list[Clip], cfg: DataConfig, on_clip: Callable[[str], None] | None = None
) -> list[LoadedClip]:
    out = []
    for clip in clips:
        out.append(
            LoadedClip(
                clip.name, preprocess_clip(read_frames(clip.path), cfg.preprocess), clip.labels
            )
        )
        if on_clip:
            on_clip(clip.name)
    return out


def split_holdout(
    clips: list[LoadedClip], fraction: float, seed: int, min_frames: int
) -> tuple[list[LoadedClip], list[LoadedClip]]:
    """Keep whole clips apart for calibration; one clip is split in time instead."""
    if fraction <= 0:
        return clips, []
    if len(clips) >= 2:
        k = max(1, math.ceil(fraction * len(clips)))
        order = np.random.default_rng(seed).permutation(len(clips))
        held = set(order[:k].tolist())
        return (
            [c for i, c in enumerate(clips) if i not in held],
            [c for i, c in enumerate(clips) if i in held],
        )
    only = clips[0]
    cut = int(len(only.frames) * (1 - fraction))
    if cut < min_frames or len(only.frames) - cut < min_frames:
        raise DataError(
            f"clip {only.name!r} has {len(only.frames)} frames: too few to keep "
            f"{fraction:.0%} apart for calibration with {min_frames}-frame windows; add footage"
        )
    return (
        [LoadedClip(only.name, only.frames[:cut])],
        [LoadedClip(only.name + "-holdout", only.frames[cut:])],
    )


def load_training_data(
    root: Path,
    cfg: DataConfig,
    fraction: float,
    seed: int,
    on_clip: Callable[[str], None] | None = None,
) -> tuple[list[LoadedClip], list[LoadedClip]]:
    clips = load_clips(open_split(root, "train"), cfg, on_clip)
    return split_holdout(clips, fraction, seed, cfg.window.length)


class WindowDataset(Dataset[torch.Tensor]):
    """Every window of every clip, as (C, T, H, W) float tensors."""

    def __init__(
        self,
        clips: list[LoadedClip],
        cfg: DataConfig,
        augment: AugmentConfig | None = None,
        max_windows: int | None = None,
        seed: int = 0,
    ) -> None:
        self.clips = clips
        self.length = cfg.window.length
        self.augment = augment
        self.appearance = cfg.preprocess.appearance_channels
        self.index = [
            (ci, s)
            for ci, c in enumerate(clips)
            for s in window_starts(len(c.frames), cfg.window.length, cfg.window.stride)
        ]
        if max_windows is not None and len(self.index) > max_windows:
            pick = np.random.default_rng(seed).choice(len(self.index), max_windows, replace=False)
            self.index = [self.index[i] for i in sorted(pick)]
        if not self.index:
            raise DataError(f"no training window: every clip is shorter than {self.length} frames")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> torch.Tensor:
        ci, s = self.index[i]
        w = torch.from_numpy(self.clips[ci].frames[s : s + self.length]).permute(1, 0, 2, 3)
        a = self.augment
        if a is not None:
            if a.hflip and torch.rand(()) < 0.5:
                w = w.flip(-1)
            if a.contrast > 0:
                gain = 1 + (torch.rand(()) * 2 - 1) * a.contrast
                bias = (torch.rand(()) * 2 - 1) * a.contrast * 0.5
                # Only the appearance channels: a lighting change adds no motion.
                ac = self.appearance
                w = torch.cat([(w[:ac] * gain + bias).clamp(0, 1), w[ac:]])
        return w.contiguous()
