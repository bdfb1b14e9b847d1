"""The plain training loop behind ``streamproc train``; Ray Train and Tune entry points
in ``trainers/`` call into it."""

from streamproc.training.loop import TrainResult, train

__all__ = ["TrainResult", "train"]
