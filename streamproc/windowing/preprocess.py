"""Per-frame preprocessing: colour mode, resize, [0, 1] range and a motion channel.

The preprocessor is stateful (the motion channel needs the previous frame), so a
live camera and an offline clip go through exactly the same code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from streamproc.config.data import PreprocessConfig
from streamproc.errors import DataError

# Farneback parameters: pyramid scale, levels, window, iterations, poly_n, poly_sigma, flags.
FARNEBACK = (0.5, 2, 9, 2, 5, 1.1, 0)
# 'flow': a speed of this many pixels per frame (at the model's size) maps to 1.0 before
# the gain; with the default gain 4, 2 px/frame saturates (walkers move ~0.5).
FLOW_FULL_SCALE = 8.0


def _gray(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


class FramePreprocessor:
    """Turns uint8 frames (H, W), (H, W, 3) BGR, into float32 (C, H', W') in [0, 1]."""

    def __init__(self, cfg: PreprocessConfig) -> None:
        self.cfg = cfg
        self._prev: np.ndarray | None = None  # previous gray frame at the motion resolution
        self._dis: Any = None  # cv2.DISOpticalFlow, made on first use (not picklable)

    def reset(self) -> None:
        self._prev = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            raise DataError(
                "expected a uint8 frame of shape (H, W) or (H, W, 3), "
                f"got {frame.dtype} {frame.shape}"
            )
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        small = cv2.resize(frame, (cfg.width, cfg.height), interpolation=cv2.INTER_AREA)
        gray = _gray(small)
        if cfg.color == "gray":
            appearance = gray[None].astype(np.float32) / 255.0  # (1, H, W)
        else:
            rgb = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB if small.ndim == 2 else cv2.COLOR_BGR2RGB)
            appearance = rgb.transpose(2, 0, 1).astype(np.float32) / 255.0  # (3, H, W)
        if cfg.motion == "none":
            return appearance
        source = self._source(frame, gray)
        motion = self._motion(source)
        self._prev = source
        return np.concatenate([appearance, motion[None]], axis=0)  # (C + 1, H, W)

    def prime(self, frame: np.ndarray) -> None:
        """Take ``frame`` as the previous frame without preprocessing it (its own model
        input came from elsewhere, e.g. a cache): the next frame's motion is then the
        same as if ``frame`` had been preprocessed here."""
        if self.cfg.motion == "none":
            return
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        self._prev = self._source(frame)

    def _source(self, frame: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
        """The gray frame the motion channel is computed from (``gray``: the frame at the
        model's size, when the caller has it already)."""
        cfg = self.cfg
        if cfg.motion == "flow" and cfg.flow_scale != 1:
            size = (round(cfg.width * cfg.flow_scale), round(cfg.height * cfg.flow_scale))
            return _gray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        if gray is None:
            small = cv2.resize(frame, (cfg.width, cfg.height), interpolation=cv2.INTER_AREA)
            gray = _gray(small)
        return gray

    def _flow(self, prev: np.ndarray, current: np.ndarray) -> np.ndarray:
        if self.cfg.flow_method == "dis":
            if self._dis is None:
                self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)  # type: ignore[attr-defined]
            return self._dis.calc(prev, current, None)
        args: Any = (prev, current, None, *FARNEBACK)
        return cv2.calcOpticalFlowFarneback(*args)

    def _motion(self, current: np.ndarray) -> np.ndarray:
        cfg, prev = self.cfg, self._prev
        if prev is None:
            return np.zeros((cfg.height, cfg.width), np.float32)
        if cfg.motion == "diff":
            m = np.abs(current.astype(np.float32) - prev.astype(np.float32)) / 255.0
        else:
            flow = self._flow(prev, current)  # (H*s, W*s, 2) pixels per frame
            # cv2.magnitude: sqrt(x^2 + y^2) as np.linalg.norm computes it (equal to
            # float32 rounding) for a sixteenth of its CPU
            speed: np.ndarray = cv2.magnitude(flow[..., 0], flow[..., 1]) / cfg.flow_scale
            if speed.shape != (cfg.height, cfg.width):
                speed = cv2.resize(speed, (cfg.width, cfg.height), interpolation=cv2.INTER_AREA)
            m = speed / FLOW_FULL_SCALE
        return np.clip(m * cfg.motion_gain, 0.0, 1.0).astype(np.float32)


def preprocess_clip(frames: Iterable[np.ndarray], cfg: PreprocessConfig) -> np.ndarray:
    """All frames of one clip as float32 (N, C, H, W)."""
    pre = FramePreprocessor(cfg)
    out = [pre(f) for f in frames]
    if not out:
        raise DataError("the clip holds no frames")
    return np.stack(out)
