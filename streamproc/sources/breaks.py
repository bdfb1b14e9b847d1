"""Breaks in a camera's capture: frames that do not continue the frame before them.

A window spanning a break would see the jump between two unrelated frames as motion, and
the model scores that jump as an anomaly. So the runner marks the first frame after a
break with its reason (``Frame.discontinuity``); ingest then starts a new segment there
(``windowing.Windower.new_segment``), and no window holds frames of two segments.

- ``reconnect``: the first frame of a new connection (marked by the runner);
- ``loop``: a looped file wrapped to its start (marked by the file source);
- ``gap``: consecutive kept frames lie more than ``max_gap_intervals`` frame intervals
  apart on the source's timeline, either way (a stall, a run of dropped frames, a
  capture-time jump);
- ``cut``: the picture itself jumped: the mean absolute difference of small gray
  thumbnails of consecutive kept frames is above ``cut_level``. A remote server that
  loops or seeks its footage shows in no timestamp, only in the picture.

Measured on UCSD Ped2 (360x240, 10 fps) with 90-px-wide thumbnails: consecutive frames
differ by at most 1.9 gray levels (0.4-1.9, anomalous frames with bikes and carts
included: at most 1.8), a clip's last frame and its first by 3.2-8.9; the default
``cut_level`` 2.5 lies between. A real anomaly that changes the whole picture at once
(the camera covered) is also cut; it still alerts once the new segment is warm.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamproc.sources.camera import Frame

THUMB_WIDTH = 90  # pixels; the scale cut_level was measured at


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A small float32 gray copy of ``image`` that cut detection compares."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    size = (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.float32)


class BreakDetector:
    """Finds ``gap`` and ``cut`` breaks in one camera's kept frames, seen in order.

    ``max_gap_s``: the longest step between consecutive frames' ``pts`` that is not a
    break (None = no gap check); ``cut_level``: see the module doc (None = no cut check).
    """

    def __init__(self, max_gap_s: float | None, cut_level: float | None) -> None:
        self.max_gap_s, self.cut_level = max_gap_s, cut_level
        self._pts: float | None = None
        self._thumb: np.ndarray | None = None

    def check(self, frame: Frame) -> str | None:
        """Why ``frame`` does not continue the previous one (its own ``discontinuity``
        first), or None when it does or is the first frame seen."""
        reason = frame.discontinuity
        prev_pts, self._pts = self._pts, frame.pts
        thumb = None
        if self.cut_level is not None:
            thumb = thumbnail(frame.image)
        prev_thumb, self._thumb = self._thumb, thumb
        if reason is not None or prev_pts is None:
            return reason
        if self.max_gap_s is not None and abs(frame.pts - prev_pts) > self.max_gap_s:
            return "gap"  # forward: frames missing; backward: the clock stepped back
        if (
            thumb is not None
            and prev_thumb is not None
            and prev_thumb.shape == thumb.shape
            and float(np.abs(thumb - prev_thumb).mean()) > self.cut_level  # type: ignore[operator]
        ):
            return "cut"
        return None
