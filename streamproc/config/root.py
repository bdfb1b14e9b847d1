"""The single configuration tree."""

from __future__ import annotations

from pydantic import Field, model_validator

from streamproc.config.alerts import AlertsConfig
from streamproc.config.base import StrictModel
from streamproc.config.cameras import CamerasConfig
from streamproc.config.data import DataConfig
from streamproc.config.evaluation import EvaluationConfig
from streamproc.config.model import ModelConfig
from streamproc.config.scoring import ScoringConfig
from streamproc.config.serving import ServingConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.config.state import EmbeddedStateConfig, StateConfig
from streamproc.config.threshold import ThresholdConfig
from streamproc.config.training import TrainingConfig
from streamproc.config.transport import MemoryTransportConfig, TopicsConfig, TransportConfig
from streamproc.config.worker import MetricsConfig, WorkerConfig

# The sections a model carries in its artifact; deployment sections (cameras, transport,
# ...) and their secrets never go into one.
MODEL_SECTIONS = {"data", "model", "training", "scoring", "smoothing", "evaluation"}


class StreamprocConfig(StrictModel):
    """Root of the config. Every section has good defaults; a file overrides what it names.

    Sections in the order of the data flow: cameras -> data (windows) -> transport/topics
    -> serving (model) -> threshold/state -> smoothing -> alerts; then the offline
    sections (model, training, scoring, evaluation) that a trained artifact carries.
    """

    cameras: CamerasConfig = Field(default_factory=CamerasConfig)
    transport: TransportConfig = Field(default_factory=MemoryTransportConfig)
    topics: TopicsConfig = Field(default_factory=TopicsConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    state: StateConfig = Field(default_factory=EmbeddedStateConfig)
    threshold: ThresholdConfig = Field(default_factory=ThresholdConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    smoothing: SmoothingConfig = Field(default_factory=SmoothingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @model_validator(mode="after")
    def _prediction_leaves_frames_to_see(self) -> StreamprocConfig:
        n, length = self.model.predict_frames, self.data.window.length
        if self.model.name == "attention-ae" and n is not None and n >= length:
            raise ValueError(
                f"model.predict_frames ({n}) must be smaller than data.window.length "
                f"({length}): the network needs frames to predict from; use "
                f"data.window.stride ({self.data.window.stride}) or 0"
            )
        return self

    @model_validator(mode="after")
    def _motion_scored_needs_motion(self) -> StreamprocConfig:
        if self.scoring.channels == "motion" and self.data.preprocess.motion == "none":
            raise ValueError(
                "scoring.channels is 'motion' but data.preprocess.motion is 'none'; "
                "set data.preprocess.motion to 'diff' or 'flow', or score 'all' channels"
            )
        if (
            self.model.name == "attention-ae"
            and self.model.predict_motion
            and self.data.preprocess.motion == "none"
        ):
            raise ValueError(
                "model.predict_motion is true but data.preprocess.motion is 'none': there is "
                "no motion channel to predict; set data.preprocess.motion to 'flow' or "
                "'diff', or set model.predict_motion to false (plain reconstruction)"
            )
        return self
