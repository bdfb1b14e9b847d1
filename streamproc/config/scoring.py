"""How a window's reconstruction becomes per-frame anomaly scores and a threshold."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from streamproc.config.base import StrictModel


class ScoringConfig(StrictModel):
    method: Literal["patch-max", "mean", "regularity", "latent-knn"] = Field(
        "patch-max",
        description=(
            "Per-frame score: 'patch-max' = max over patches of the calibrated error map "
            "(a small anomaly is not averaged away); 'mean' = mean squared error; "
            "'regularity' = 1 - seed 002's regularity s(t) (min-max by calibration); "
            "'latent-knn' = distance of the window's latent code to its k nearest normal codes."
        ),
    )
    fusion: Literal["none", "max-z"] = Field(
        "none",
        description=(
            "'none': one score of the `channels` named below. 'max-z': two cues, "
            "appearance (squared error of the appearance channels) and motion (the "
            "`residual` of the motion channel), each pooled by `method`, standardised by "
            "its own statistics on held-out normal footage and fused by their maximum, so "
            "a scene where one cue is normally high does not drown the other. Not the "
            "default: with attention-ae's appearance cue it scored below motion alone on "
            "both development scenes (BENCHMARKS.md)."
        ),
    )
    patch: int = Field(20, ge=1, le=256, description="Side of the square pooling patch, pixels.")
    channels: Literal["all", "motion", "appearance"] = Field(
        "motion",
        description="Input channels whose reconstruction error is scored ('motion' needs "
        "data.preprocess.motion other than 'none').",
    )
    residual: Literal["squared", "excess", "relative"] = Field(
        "relative",
        description=(
            "Per-pixel error: 'squared' = (input - reconstruction)^2; 'excess' = "
            "max(input - reconstruction, 0); 'relative' = excess / (reconstruction + 0.1). "
            "With channels 'motion' and model.predict_motion, 'excess' is the motion the "
            "appearance does not explain (a bicycle faster than the walkers the network "
            "learned) and 'relative' the same surplus as a fraction of the motion expected "
            "there, so normal fast motion near the camera counts less; a person who stops "
            "is not scored."
        ),
    )
    normalize_pixels: bool = Field(
        False,
        description=(
            "Divide each pixel's error by its mean over held-out normal windows (calibration). "
            "Off by default: it also divides away the error where normal activity happens "
            "(the walkway), which is where vehicles appear on UCSD Ped2."
        ),
    )
    knn_k: int = Field(5, ge=1, le=100, description="Neighbours for latent-knn.")
    knn_bank: int = Field(4096, ge=16, description="Max normal latent codes kept for latent-knn.")
    threshold_k: float = Field(
        3.0,
        ge=0,
        description="Threshold = mean + k * std of held-out normal frame scores (seed 003).",
    )
    threshold_quantile: float | None = Field(
        None,
        gt=0,
        lt=1,
        description=(
            "If set, threshold = this quantile of held-out normal scores instead of mean + k std."
        ),
    )

    @model_validator(mode="after")
    def _fusion_pools_maps(self) -> ScoringConfig:
        if self.fusion != "none" and self.method == "latent-knn":
            raise ValueError(
                "scoring.fusion 'max-z' fuses error-map cues, but latent-knn pools no error "
                "map; use method patch-max or mean, or set scoring.fusion: none"
            )
        return self
