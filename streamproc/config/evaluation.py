"""Evaluation protocol settings."""

from __future__ import annotations

from pydantic import Field

from streamproc.config.base import StrictModel


class EvaluationConfig(StrictModel):
    offline_center_window: int = Field(
        9, ge=1, description="offline protocol: width of the centred moving average (1 = none)."
    )
    batch_size: int = Field(32, ge=1, description="Windows per scoring batch.")
    fps: float = Field(
        10.0,
        gt=0,
        description="Frame rate of the labelled footage (UCSD: 10), for capture times, event "
        "delays and false alerts per hour.",
    )
    heatmaps: int = Field(6, ge=0, description="Heatmap overlays to draw with --plots.")
