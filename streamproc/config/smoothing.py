"""Causal smoothing of frame scores and the alert decision."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from streamproc.config.base import StrictModel


class SmoothingConfig(StrictModel):
    kind: Literal["none", "mean", "median", "ema"] = Field(
        "mean", description="Rolling smoother of recent frame scores."
    )
    window: int = Field(
        9, ge=1, le=1000, description="Frames in the rolling window (mean, median)."
    )
    ema_alpha: float = Field(0.3, gt=0, le=1, description="EMA weight of the newest score.")
    persistence_k: int = Field(
        4, ge=1, description="k of k-of-n: frames above threshold needed ..."
    )
    persistence_n: int = Field(6, ge=1, description="... among the last n frames (seed 002).")
    exit_ratio: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Hysteresis: an open anomaly ends below exit_ratio * threshold.",
    )
