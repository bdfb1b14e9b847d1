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
    segment: int = 0  # the capture segment its frames belong to (``Windower.new_segment``)


class Windower:
    """Live windowing of one camera: push frames, get a Window every ``stride`` frames.

    A camera's frames come in segments, split at breaks in capture (a reconnect, a loop,
    a gap: ``sources/breaks.py``). ``new_segment`` starts one: no window (nor a window's
    context frame) holds frames of two segments, so the first window of a segment has
    no context and its first frame's motion starts from nothing, as at a clip's start
    offline. Sequence numbers run on across segments."""

    def __init__(self, camera: str, length: int, stride: int) -> None:
        self.camera, self.length, self.stride = camera, length, stride
        # One frame more than a window: the context frame before the window's first.
        self._buf: deque[tuple[int, np.ndarray, float]] = deque(maxlen=length + 1)
        self._since_emit = 0
        self._next_seq = 0
        self._emitted = False
        self.segment = 0  # segments started before the current one

    def new_segment(self) -> Window | None:
        """Start a new segment at the next pushed frame; returns the old segment's tail
        window (as ``flush``) so its last frames are scored, if it has one. A segment
        shorter than a window gives no window: its frames are never scored."""
        tail = self.flush()
        self._buf.clear()
        self._since_emit = 0
        self._emitted = False
        self.segment += 1
        return tail

    @property
    def next_seq(self) -> int:
        """The sequence number the next pushed frame gets."""
        return self._next_seq

    def resume_seq(self, last_end: int) -> int:
        """Where to resume after the window ending at frame ``last_end``: that window's
        context frame, since an end-aligned tail window (``flush``) may need any frame
        from there on."""
        return max(0, last_end - self.length)

    def resume(self, seq: int, last_end: int) -> None:
        """Continue a camera in a new process: the next pushed frame is ``seq``, and the
        last window emitted before ended at frame ``last_end``. Pushing the frames from
        ``seq`` on then gives exactly the windows an unbroken run would have given after
        that one, provided ``seq`` is no later than ``resume_seq(last_end)``."""
        if not 0 <= seq <= self.resume_seq(last_end):
            raise ValueError(
                f"cannot resume at frame {seq} after a window ending at {last_end}: the next "
                f"window needs frames from {self.resume_seq(last_end)} on"
            )
        self._buf.clear()
        self._next_seq = seq
        self._emitted = True
        self._since_emit = seq - last_end - 1

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
        return Window(self.camera, seqs[0], np.stack(frames), tuple(times), context, self.segment)
