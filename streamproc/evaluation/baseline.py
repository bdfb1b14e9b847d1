"""A training-free baseline: motion energy.

Absolute difference of consecutive grayscale frames, box-filtered into patches, max
over the frame; the protocols then smooth it causally like any model's score. Its
threshold is calibrated on the training clips (normal only) as mean + k std. A
learned model that does not beat this adds nothing.
"""

from __future__ import annotations

import numpy as np
import torch

from streamproc.config.data import PreprocessConfig
from streamproc.evaluation.protocols import RawScores
from streamproc.model.scoring import patch_max

# Fixed, not the model's scoring.patch, so changing a model's defaults cannot move the bar
# it is measured against (12 px at 144 x 96; the scoring ablation shows other sizes).
BASELINE_PATCH = 12


def motion_energy(frames: np.ndarray, patch: int) -> np.ndarray:
    """Per-frame score of one clip given its preprocessed frames (N, C, H, W) whose last
    channel is the frame difference (``motion: diff``)."""
    diff = torch.from_numpy(frames[:, -1]).float()  # (N, H, W)
    return patch_max(diff[None], patch)[0].numpy().astype(np.float64)  # (N,)


def baseline_preprocess(base: PreprocessConfig) -> PreprocessConfig:
    """Same resolution as the model's input, gray, plain difference without gain."""
    return base.model_copy(update={"color": "gray", "motion": "diff", "motion_gain": 1.0})


def baseline_raw(frames: np.ndarray, patch: int) -> RawScores:
    s = motion_energy(frames, patch)
    return RawScores(streaming=s, offline=s)
