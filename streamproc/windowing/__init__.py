"""Frames -> preprocessed tensors -> sliding windows of T frames."""

from streamproc.windowing.preprocess import FramePreprocessor, preprocess_clip
from streamproc.windowing.windows import Windower, first_cover, window_starts

__all__ = ["FramePreprocessor", "Windower", "first_cover", "preprocess_clip", "window_starts"]
