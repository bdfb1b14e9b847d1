"""Sliding windows of T frames with a stride, offline (indices) and live (Windower)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


def window_starts(n_frames: int, length: int, stride: int) -> list[int]:
    """Start indices of the windows over a clip; the last window is aligned to the end
    so that no frame is left unscored. A clip shorter than ``length`` yields none."""
    if n_frames < length:
        return []
    starts = list(range(0, n_frames - length + 1, stride))
    if starts[-1] != n_frames - length:
        starts.append(n_frames - length)
    return starts


def first_cover(n_frames: int, starts: list[int], length: int) -> np.ndarray:
    """For each frame, the index of the first window (in emission order) containing it.

    This is what a live stream can do: a frame is scored as soon as the first window
    holding it has arrived, which looks at most ``stride - 1`` frames ahead."""
    owner = np.full(n_frames, -1, dtype=np.int64)
    for i, s in enumerate(starts):
        seg = owner[s : s + length]
        seg[seg < 0] = i
    return owner


@dataclass(frozen=True)
class Window:
    """A window of one camera: frames (T, C, H, W) with their sequence numbers and times."""

    camera: str
    seq: int  # sequence number of the window's first frame
    frames: np.ndarray
    timestamps: tuple[float, ...]
    context: np.ndarray | None = None  # the frame before ``seq`` (for the motion channel)


class Windower:
    """Live windowing of one camera: push frames, get a Window every ``stride`` frames."""

    def __init__(self, camera: str, length: int, stride: int) -> None:
        self.camera, self.length, self.stride = camera, length, stride
        # One frame more than a window: the context frame before the window's first.
        self._buf: deque[tuple[int, np.ndarray, float]] = deque(maxlen=length + 1)
        self._since_emit = 0
        self._next_seq = 0
        self._emitted = False

    def push(self, frame: np.ndarray, timestamp: float) -> Window | None:
        self._buf.append((self._next_seq, frame, timestamp))
        self._next_seq += 1
        self._since_emit += 1
        if len(self._buf) < self.length:
            return None
        if self._emitted and self._since_emit < self.stride:
            return None
        self._emitted, self._since_emit = True, 0
        return self._window()

    def flush(self) -> Window | None:
        """At the end of a finite source: a last window aligned to the final frame, if
        frames arrived since the last window (as ``window_starts`` does offline)."""
        if self._since_emit == 0 or len(self._buf) < self.length:
            return None
        self._since_emit = 0
        return self._window()

    def _window(self) -> Window:
        items = list(self._buf)
        context = items[0][1] if len(items) > self.length else None
        seqs, frames, times = zip(*items[-self.length :], strict=True)
        return Window(self.camera, seqs[0], np.stack(frames), tuple(times), context)
