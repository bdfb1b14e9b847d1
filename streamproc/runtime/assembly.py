"""Whole windows from version-2 messages, which carry each frame once (``transport/wire``).

A version-2 message holds only the frames its camera's previous message did not; the
worker keeps each camera's latest frames here and puts the carried ones in front. What
is kept is also what a restart needs again, so the worker never commits a partition past
the oldest record still holding a kept frame (``pins``): a new owner re-reads from there
and rebuilds the same frames (frames are immutable per camera, session and sequence
number, so memory that is stale is never wrong, only missing).

Frames are kept per capture segment (the header's ``segment``): a message of another
segment than the camera's kept frames forgets them, so a window is never assembled
across a break in capture; a sender makes a segment's first message whole.

A window whose carried frames are not here (the worker started after them, or their
message was lost) cannot be built: ``Incomplete`` says which frames are missing; the
worker skips the window when its camera's state shows it was already applied, and
dead-letters it otherwise.

Bounded three ways: per camera, frames before the newest window's first are dropped (no
later window of the camera needs them); a camera whose partition has records
``FORGET_AFTER_S`` newer than its last is forgotten (a sender makes a message whole
after ``WHOLE_AFTER_S`` of silence), as are cameras of partitions this worker no longer
owns; and past ``max_bytes`` the least recently seen cameras are forgotten, said in
the log and counted, since their next partial windows will be dead-lettered.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from streamproc import metrics
from streamproc.errors import StreamprocError
from streamproc.ratelimit import Every
from streamproc.transport.base import Record
from streamproc.transport.wire import FORGET_AFTER_S, WireMessage, WireWindow

log = logging.getLogger(__name__)
TP = tuple[str, int]
WARN_EVERY_S = 60.0  # at most one eviction warning this often


class Incomplete(StreamprocError):
    """A window's carried frames are not in memory; it cannot be built."""


@dataclass
class _Camera:
    stream: str
    tp: TP
    segment: int = 0
    # seq -> (frame, offset of the record it came in)
    frames: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)
    last_ms: int = 0  # timestamp of the camera's newest record
    nbytes: int = 0

    def oldest(self) -> int | None:
        return min((off for _, off in self.frames.values()), default=None)


@dataclass(frozen=True)
class Built:
    """A window and the oldest offset (of its record's partition) it was built from."""

    window: WireWindow
    since: int


class FrameMemory:
    """Per camera, the frames a later version-2 message may carry; see the module doc."""

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        self.max_bytes = max_bytes
        self._cams: OrderedDict[str, _Camera] = OrderedDict()  # least recently seen first
        self._newest_ms: dict[TP, int] = {}  # newest record timestamp per partition
        self.nbytes = 0
        self.evicted = 0  # cameras forgotten for the byte budget
        self._warn = Every(WARN_EVERY_S)

    def build(self, msg: WireMessage, rec: Record) -> Built:
        """The whole window of ``msg`` (from record ``rec``); raises ``Incomplete``.

        Only version-2 messages are remembered: a version-1 sender never carries frames."""
        tp = (rec.topic, rec.partition)
        self._newest_ms[tp] = max(self._newest_ms.get(tp, 0), rec.timestamp_ms)
        cam = self._cams.get(msg.camera)
        if cam is not None and (cam.stream, cam.tp, cam.segment) != (msg.stream, tp, msg.segment):
            # A new session, segment (a break in capture) or partition: its frames are others.
            self._drop(msg.camera)
            cam = None
        try:
            carried, since = self._carried(msg, cam, rec.offset)
        finally:  # its own frames are remembered even when the window cannot be built
            if msg.version >= 2:
                self._remember(msg, rec, tp, cam)
        if carried is None:
            return Built(msg.whole(), rec.offset)
        return Built(msg.whole(carried), since)

    def pins(self, owned: set[TP] | None = None) -> dict[TP, int]:
        """Per partition, the oldest offset holding a frame still kept: commits must not
        pass it. Forgets cameras silent for ``FORGET_AFTER_S`` (by their partition's record
        times) and, when ``owned`` is given, cameras of partitions not in it."""
        pins: dict[TP, int] = {}
        forget_ms = int(FORGET_AFTER_S * 1000)
        for camera, cam in list(self._cams.items()):
            gone = owned is not None and cam.tp not in owned
            if gone or self._newest_ms.get(cam.tp, 0) - cam.last_ms > forget_ms:
                self._drop(camera)
                continue
            oldest = cam.oldest()
            if oldest is not None:
                pins[cam.tp] = min(pins.get(cam.tp, oldest), oldest)
        metrics.FRAME_MEMORY_BYTES.set(self.nbytes)
        return pins

    def __len__(self) -> int:
        return len(self._cams)

    def _carried(
        self, msg: WireMessage, cam: _Camera | None, offset: int
    ) -> tuple[np.ndarray | None, int]:
        """The carried frames and the oldest offset they came from (None: none carried)."""
        if not msg.carried:
            return None, offset
        kept = cam.frames if cam is not None else {}
        want = range(msg.first, msg.first + msg.carried)
        missing = [s for s in want if s not in kept]
        where = f"camera {msg.camera} window {msg.seq} (session {msg.stream!r})"
        if missing:
            raise Incomplete(
                f"{where}: frames {missing[0]}..{missing[-1]} came in earlier messages this "
                "worker does not hold"
            )
        have = [kept[s] for s in want]
        if any(frame.shape != msg.frames.shape[1:] for frame, _ in have):
            raise Incomplete(f"{where}: the carried frames are of another size")
        since = min(offset, *(off for _, off in have))
        return np.stack([frame for frame, _ in have]), since

    def _remember(self, msg: WireMessage, rec: Record, tp: TP, cam: _Camera | None) -> None:
        if cam is None:
            cam = self._cams[msg.camera] = _Camera(msg.stream, tp, msg.segment)
        self._cams.move_to_end(msg.camera)
        cam.last_ms = max(cam.last_ms, rec.timestamp_ms)
        first_new = msg.first + msg.carried
        for i, frame in enumerate(msg.frames):
            self._put(cam, first_new + i, frame, rec.offset)
        for s in [s for s in cam.frames if s < msg.seq]:  # no later window needs them
            self._put(cam, s, None, 0)
        while self.nbytes > self.max_bytes and len(self._cams) > 1:
            camera = next(iter(self._cams))
            self._drop(camera)
            self.evicted += 1
            metrics.FRAME_MEMORY_EVICTED.inc()
            if self._warn.due():
                log.warning(
                    "frame memory over worker.frame_memory_mb: forgot camera %s (%d cameras "
                    "so far; their next partial windows are dead-lettered as incomplete); "
                    "raise frame_memory_mb or run more workers",
                    camera,
                    self.evicted,
                )

    def _put(self, cam: _Camera, seq: int, frame: np.ndarray | None, offset: int) -> None:
        old = cam.frames.pop(seq, None)
        if old is not None:
            cam.nbytes -= old[0].nbytes
            self.nbytes -= old[0].nbytes
        if frame is not None:
            cam.frames[seq] = (frame, offset)
            cam.nbytes += frame.nbytes
            self.nbytes += frame.nbytes

    def _drop(self, camera: str) -> None:
        cam = self._cams.pop(camera, None)
        if cam is not None:
            self.nbytes -= cam.nbytes
