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
  thumbnails of consecutive kept frames is above ``cut_level`` and ``CUT_RATIO`` times
  the step before it. A remote server that loops or seeks its footage shows in no
  timestamp, only in the picture.

Measured on UCSD Ped2 (360x240, 10 fps; thumbnails of 90x60): consecutive frames
differ by at most 1.9 gray levels (0.4-1.9, anomalous frames with bikes and carts
included: at most 1.8), a clip's last frame and its first by 3.2-8.9, 5.2-8.7 times
the clip's last step; the default ``cut_level`` 2.5 lies between. The ratio keeps a
large object that moves on (a truck close to the camera) from cutting every frame: it
can cut at most where it enters, and then alerts once the new segment is warm
(``alerts.warmup_frames``), never a run of one-frame segments that no window holds.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamproc.sources.camera import Frame

CUT_RATIO = 3.0  # a cut's step is this many times the step before it (Ped2 wraps: >= 5.2)
THUMB_FACTOR = 4  # a thumbnail pixel is the mean of 4x4 frame pixels (sensor noise / 4)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A small float32 gray copy of ``image`` that cut detection compares: the same
    averaging at any resolution, so ``cut_level`` means the same for every camera."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    size = (max(1, w // THUMB_FACTOR), max(1, h // THUMB_FACTOR))
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
        self._step: float | None = None  # thumbnail difference of the previous step

    def check(self, frame: Frame) -> str | None:
        """Why ``frame`` does not continue the previous one (its own ``discontinuity``
        first), or None when it does or is the first frame seen."""
        reason = frame.discontinuity
        prev_pts, self._pts = self._pts, frame.pts
        thumb = None
        if self.cut_level is not None:
            thumb = thumbnail(frame.image)
        prev_thumb, self._thumb = self._thumb, thumb
        step = None
        if thumb is not None and prev_thumb is not None and prev_thumb.shape == thumb.shape:
            step = float(np.abs(thumb - prev_thumb).mean())
        prev_step, self._step = self._step, step
        if reason is not None or prev_pts is None:
            self._step = None  # the step across a break is no reference for the next
            return reason
        if self.max_gap_s is not None and abs(frame.pts - prev_pts) > self.max_gap_s:
            self._step = None
            return "gap"  # forward: frames missing; backward: the clock stepped back
        if (
            step is not None
            and prev_step is not None
            and step > self.cut_level  # type: ignore[operator]
            and step > CUT_RATIO * prev_step
        ):
            return "cut"
        return None
