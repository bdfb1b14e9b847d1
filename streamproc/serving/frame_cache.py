"""Preprocessed frames by content, so the overlap of consecutive windows is preprocessed
once.

A frame's model input (appearance and motion channel) depends only on the frame and the
one before it. Consecutive windows of a camera overlap (8 frames at stride 4 share 4),
so without a cache every frame's optical flow is computed about twice. Keyed by a hash
of both frames' bytes, a hit is what preprocessing returned for those two frames (a
recomputation can differ in the last bit: OpenCV's Farneback is not bit-reproducible
across buffers), so the cache skips work without changing a score beyond float32
rounding. Bounded (LRU) and thread-safe.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np


def frame_digest(frame: np.ndarray | None) -> bytes:
    """A frame's content (shape, dtype and pixels) as 16 bytes; None for no frame."""
    h = hashlib.blake2b(digest_size=16)
    if frame is None:
        h.update(b"none")
    else:
        h.update(repr((frame.shape, frame.dtype.str)).encode())
        h.update(np.ascontiguousarray(frame).data)
    return h.digest()


def frame_key(prev: bytes, frame: bytes) -> bytes:
    """The cache key of a frame's model input: the digests of it and the frame before it
    (``frame_digest``), so each frame of a window is hashed once."""
    return prev + frame


class FrameCache:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: bytes) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: bytes, value: np.ndarray) -> None:
        if self.capacity <= 0:
            return
        value.setflags(write=False)  # shared by every window that holds the frame
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
