"""The single configuration tree."""

from __future__ import annotations

from pydantic import Field

from streamproc.config.base import StrictModel
from streamproc.config.data import DataConfig
from streamproc.config.evaluation import EvaluationConfig
from streamproc.config.model import ModelConfig
from streamproc.config.scoring import ScoringConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.config.training import TrainingConfig


class StreamprocConfig(StrictModel):
    """Root of the config. Every section has good defaults; a file overrides what it names."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    smoothing: SmoothingConfig = Field(default_factory=SmoothingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
