"""Per-frame preprocessing: colour mode, resize, [0, 1] range and a motion channel.

The preprocessor is stateful (the motion channel needs the previous frame), so a
live camera and an offline clip go through exactly the same code.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from streamproc.config.data import PreprocessConfig
from streamproc.errors import DataError


class FramePreprocessor:
    """Turns uint8 frames (H, W), (H, W, 3) BGR, into float32 (C, H', W') in [0, 1]."""

    def __init__(self, cfg: PreprocessConfig) -> None:
        self.cfg = cfg
        self._prev_gray: np.ndarray | None = None

    def reset(self) -> None:
        self._prev_gray = None

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
        gray = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        if cfg.color == "gray":
            appearance = gray[None].astype(np.float32) / 255.0  # (1, H, W)
        else:
            rgb = cv2.cvtColor(small, cv2.COLOR_GRAY2RGB if small.ndim == 2 else cv2.COLOR_BGR2RGB)
            appearance = rgb.transpose(2, 0, 1).astype(np.float32) / 255.0  # (3, H, W)
        if cfg.motion == "none":
            self._prev_gray = gray
            return appearance
        motion = self._motion(gray)
        self._prev_gray = gray
        return np.concatenate([appearance, motion[None]], axis=0)

    def _motion(self, gray: np.ndarray) -> np.ndarray:
        prev = self._prev_gray
        if prev is None:
            return np.zeros(gray.shape, np.float32)
        if self.cfg.motion == "diff":
            m = np.abs(gray.astype(np.float32) - prev.astype(np.float32)) / 255.0
        else:
            flow = cv2.calcOpticalFlowFarneback(
                prev,
                gray,
                None,
                0.5,
                2,
                9,
                2,
                5,
                1.1,
                0,  # type: ignore[call-overload]
            )
            # Pixels per frame, scaled so that ~10 px/frame fills the range before the gain.
            m = np.linalg.norm(flow, axis=2) / 10.0
        return np.clip(m * self.cfg.motion_gain, 0.0, 1.0).astype(np.float32)


def preprocess_clip(frames: Iterable[np.ndarray], cfg: PreprocessConfig) -> np.ndarray:
    """All frames of one clip as float32 (N, C, H, W)."""
    pre = FramePreprocessor(cfg)
    out = [pre(f) for f in frames]
    if not out:
        raise DataError("the clip holds no frames")
    return np.stack(out)
