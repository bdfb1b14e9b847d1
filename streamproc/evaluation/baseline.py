"""Training-free baselines: frame difference (motion energy) and optical-flow speed.

The motion channel of each frame (absolute difference to the previous gray frame, or
the Farneback flow speed the model's preprocessing computes), box-filtered into
patches, max over the frame; the protocols then smooth it causally like any model's
score. The threshold is calibrated on the training clips (normal only) as mean + k std.
A learned model that does not beat these adds nothing.
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


BASELINES = ("frame difference", "flow speed")


def baseline_preprocess(base: PreprocessConfig, kind: str = "frame difference") -> PreprocessConfig:
    """Same resolution as the model's input, gray; a plain difference without gain, or
    the optical-flow speed channel as the default preprocessing computes it."""
    if kind == "flow speed":
        return base.model_copy(update={"color": "gray", "motion": "flow"})
    return base.model_copy(update={"color": "gray", "motion": "diff", "motion_gain": 1.0})


def baseline_raw(frames: np.ndarray, patch: int) -> RawScores:
    s = motion_energy(frames, patch)
    return RawScores(streaming=s, offline=s)
