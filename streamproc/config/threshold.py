"""Per-camera thresholds at run time."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from streamproc.config.base import StrictModel


class ThresholdConfig(StrictModel):
    mode: Literal["calibrated", "adaptive"] = Field(
        "adaptive",
        description="'calibrated' = the artifact's mean + k std of held-out normal scores; "
        "'adaptive' = mean + k std of this camera's running score statistics, which "
        "start from the calibration and follow the camera's own scores (seeds 000 and "
        "003).",
    )
    k: float | None = Field(
        None,
        ge=0,
        description="k of mean + k std; None = the artifact's calibrated threshold "
        "(scoring.threshold_k, or its threshold_quantile expressed as a k).",
    )
    halflife_frames: float = Field(
        3000, gt=1, description="Half-life of the running statistics, in frames."
    )
    min_samples: int = Field(
        500,
        ge=1,
        description="Weight of the calibration in a new camera's running statistics, in "
        "frames: the camera starts from the calibration's mean and std as if it had seen "
        "this many normal frames of its own (a warm start).",
    )
