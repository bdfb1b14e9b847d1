"""The training loop's settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from streamproc.config.base import StrictModel


class LossConfig(StrictModel):
    """Loss = MSE + kl_weight * KL + temporal_weight * temporal coherence (seeds 000, 002)."""

    kl_weight: float = Field(
        0.0, ge=0, description="Weight of the KL term (variational models only)."
    )
    temporal_weight: float = Field(
        0.1, ge=0, description="Weight of the temporal-coherence term on frame-to-frame changes."
    )


class TrainingConfig(StrictModel):
    epochs: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Passes over the training windows; None = as many as it takes to "
        "train on `sample_budget` windows (at least 2, at most 50), so a few minutes of "
        "footage get more passes and hours of footage fewer, for the same training time.",
    )
    sample_budget: int = Field(
        6500,
        ge=1,
        description="Windows the training sees in all when `epochs` is None (UCSD Ped2's "
        "544 training windows x 12 epochs, the setting the model was developed with).",
    )
    batch_size: int = Field(16, ge=1, le=1024, description="Windows per optimisation step.")
    learning_rate: float = Field(1e-3, gt=0, lt=1, description="AdamW learning rate.")
    weight_decay: float = Field(1e-5, ge=0, description="AdamW weight decay.")
    seed: int = Field(0, description="Seed for torch, numpy and the data order.")
    holdout_fraction: float = Field(
        0.1,
        ge=0.0,
        lt=0.5,
        description="Fraction of training clips (at least one) kept apart for calibration.",
    )
    max_windows: int | None = Field(
        None, ge=1, description="Cap on training windows (for quick runs); None = all."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="'auto' uses a GPU if present."
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; None = torch default.")
    loss: LossConfig = Field(default_factory=LossConfig)
