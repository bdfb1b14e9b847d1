"""Re-exports for the Ray entry points: the one training loop lives in
``streamproc.training`` (``run_epochs`` per epoch, ``build_artifact`` and
``training_metadata`` for the artifact ``streamproc train`` writes)."""

from streamproc.training.epochs import EpochEnd, Wrap, run_epochs
from streamproc.training.loop import build_artifact, training_metadata

__all__ = ["EpochEnd", "Wrap", "build_artifact", "run_epochs", "training_metadata"]
