"""Networks (pure torch), window scoring, calibration and the model artifact."""

from streamproc.model.artifact import Artifact, load_artifact, save_artifact
from streamproc.model.registry import MODELS, build_model
from streamproc.model.scoring import Calibration, WindowScorer

__all__ = [
    "MODELS",
    "Artifact",
    "Calibration",
    "WindowScorer",
    "build_model",
    "load_artifact",
    "save_artifact",
]
