"""Per-camera thresholds at run time."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from streamproc.config.base import StrictModel


class ThresholdConfig(StrictModel):
    mode: Literal["calibrated", "adaptive"] = Field(
        "adaptive",
        description="'calibrated' = the artifact's mean + k std of held-out normal scores; "
        "'adaptive' = mean + k std of this camera's own recent normal scores once "
        "`min_samples` have been seen (seeds 000 and 003), the calibration before that.",
    )
    k: float | None = Field(
        None, ge=0, description="k of mean + k std; None = the artifact's scoring.threshold_k."
    )
    halflife_frames: float = Field(
        3000, gt=1, description="Half-life of the running statistics, in frames."
    )
    min_samples: int = Field(
        500, ge=1, description="Normal frames a camera needs before its own statistics are used."
    )
