"""Runs one camera in its own threads: capture, fps sampling, pacing, reconnects, hand-off.

Two threads per camera. The capture thread reads the source, keeps the frames that fall
on the target frame rate, converts and resizes them, and puts them in a small bounded
queue; the delivery thread takes them out and calls ``on_frame``. A slow consumer thus
never stalls a live camera: when the queue is full the oldest frame is dropped (a stale
frame is worth less than a fresh one). Only a file played as fast as possible
(``realtime: false``, a benchmark) waits for the consumer instead, since nothing is lost
by reading it later.

Nothing blocks without bound: stream reads time out, backoff sleeps and queue waits wake
up on ``stop()``.

The delivery thread marks each frame that does not continue the one handed on before it
(``Frame.discontinuity``: a reconnect, a looped file's wrap, a gap in the timeline, a cut
in the picture; ``sources/breaks.py``), so that no window spans a break.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import cv2

from streamproc.config.cameras import CameraConfig, ReconnectConfig
from streamproc.cpu import stage
from streamproc.errors import StreamprocError
from streamproc.metrics import (
    CAMERA_RECONNECTS,
    CAMERA_UP,
    CAPTURE_BREAKS,
    FRAMES_DROPPED,
    FRAMES_IN,
)
from streamproc.sources.breaks import BreakDetector
from streamproc.sources.camera import CameraDisconnected, CameraSource, Clock, Frame, open_camera

log = logging.getLogger(__name__)

CameraState = Literal["connecting", "streaming", "reconnecting", "finished", "stopped", "failed"]
ENDED: frozenset[str] = frozenset({"finished", "stopped", "failed"})
FrameCallback = Callable[[str, Frame], None]


@dataclass(frozen=True)
class CameraStatus:
    camera: str
    state: CameraState
    frames: int  # frames handed to on_frame
    dropped: int  # frames read but not handed on (fps sampling, backpressure, consumer error)
    last_frame_time: float | None  # capture time of the newest frame read, unix seconds
    last_error: str | None  # the most recent problem, kept after recovery for diagnosis
    reconnects: int


class FpsSampler:
    """Samples a timeline down to ``fps``: due times lie on a grid of 1/fps, and a frame is
    kept when it is at most half a source frame interval before the next due time. So an
    exact ratio keeps every n-th frame (30 -> 10 keeps 0, 3, 6 ...), and a jittery stream
    at the target rate keeps every frame."""

    def __init__(self, fps: float | None) -> None:
        self.fps = fps
        self.period = 1.0 / fps if fps else 0.0
        self.reset()

    def reset(self) -> None:
        self._due: float | None = None
        self._last_pts: float | None = None
        self._interval: float | None = None  # running mean of the source frame interval

    def keep(self, pts: float) -> bool:
        if self.fps is None:
            return True
        if self._last_pts is not None and pts < self._last_pts:
            self.reset()  # the stream's clock stepped back: start a new grid
        if self._last_pts is not None and pts > self._last_pts:
            d = pts - self._last_pts
            self._interval = d if self._interval is None else 0.9 * self._interval + 0.1 * d
        self._last_pts = pts
        if self._due is None:
            self._due = pts + self.period
            return True
        tol = 0.5 * (self._interval or 0.0) + 1e-9
        if pts < self._due - tol:
            return False
        self._due += self.period
        if self._due <= pts - tol:
            # Behind the grid (a stall, or a source slower than the target): re-sync.
            self._due = pts + self.period
        return True


class Backoff:
    """Exponential delays capped at ``max_s``, each shortened by up to ``jitter`` of itself."""

    def __init__(self, cfg: ReconnectConfig, rng: random.Random) -> None:
        self.cfg, self.rng = cfg, rng
        self.reset()

    def reset(self) -> None:
        self.attempts = 0
        self._base = self.cfg.initial_s

    def next_delay(self) -> float:
        # Jitter only shortens the step: cameras stay spread out even once capped at max_s.
        delay = self._base * (1 - self.cfg.jitter * self.rng.random())
        # Grown step by step (not initial * mult**n) so it can never overflow.
        self._base = min(self.cfg.max_s, self._base * self.cfg.multiplier)
        self.attempts += 1
        return delay


class CameraRunner:
    """One camera: ``start()`` it, read ``status()``, ``stop()`` and ``join()`` it."""

    def __init__(
        self,
        cfg: CameraConfig,
        on_frame: FrameCallback,
        *,
        camera: CameraSource | None = None,
        clock: Clock = time.time,
        sleep: Callable[[float], object] | None = None,
        rng: random.Random | None = None,
        queue_size: int = 8,
        on_end: Callable[[str], None] | None = None,
        skip_before: int = 0,
    ) -> None:
        """``skip_before``: source frames with a lower index were handed on by an earlier
        process (a resumed file); they are read, unpaced, only to sample the same frames."""
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.cfg, self.camera_id = cfg, cfg.id
        self.camera = camera if camera is not None else open_camera(cfg, clock)
        self._on_frame, self._clock = on_frame, clock
        self._on_end = on_end  # called once a finite source has delivered its last frame
        self._skip_before = skip_before
        self._stop = threading.Event()
        self._sleep = sleep if sleep is not None else self._stop.wait
        self._sampler = FpsSampler(cfg.fps)
        self._backoff = Backoff(cfg.reconnect, rng or random.Random())
        self._drop_oldest = self.camera.live or cfg.realtime
        self._queue: deque[Frame] = deque()
        self._queue_size = queue_size
        self._cond = threading.Condition()  # guards the queue and every status field
        self._capture_done = False
        self._capture_result: CameraState = "stopped"
        self._state: CameraState = "connecting"
        self._frames = self._dropped = self._reconnects = 0
        self._last_frame_time: float | None = None
        self._last_error: str | None = None
        self._last_consumer_log = -math.inf
        self._handed_before = False  # an earlier connection handed frames on
        # Cuts only in live streams: a file's or folder's loop is flagged by the source
        # itself, and a sudden anomaly in footage must not be taken for a jump in it.
        cut_level = cfg.cut_level if self.camera.live else None
        self._breaks = BreakDetector(None, cut_level)  # max gap set once fps is known
        self._threads: list[threading.Thread] = []
        self._m_up = CAMERA_UP.labels(camera=cfg.id)
        self._m_in = FRAMES_IN.labels(camera=cfg.id)
        self._m_reconnects = CAMERA_RECONNECTS.labels(camera=cfg.id)

    # -- control ---------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            raise RuntimeError(f"camera {self.camera_id}: runner already started")
        self._m_up.set(0)
        for name, target in (("capture", self._capture), ("deliver", self._deliver)):
            t = threading.Thread(target=target, name=f"camera-{self.camera_id}-{name}", daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        """Ask both threads to end; frames still queued are discarded."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the threads; True if they have ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def status(self) -> CameraStatus:
        with self._cond:
            return CameraStatus(
                self.camera_id,
                self._state,
                self._frames,
                self._dropped,
                self._last_frame_time,
                self._last_error,
                self._reconnects,
            )

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._state in ENDED

    # -- state -----------------------------------------------------------------------

    def _set_state(self, state: CameraState) -> None:
        with self._cond:
            if self._state in ENDED:
                return  # terminal: a late capture-thread update must not revive it
            self._state = state
        self._m_up.set(1 if state == "streaming" else 0)

    def _error(self, err: BaseException | str) -> None:
        with self._cond:
            self._last_error = str(err)

    def _drop(self, reason: str) -> None:
        with self._cond:
            self._dropped += 1
        FRAMES_DROPPED.labels(camera=self.camera_id, reason=reason).inc()

    # -- capture thread --------------------------------------------------------------

    def _capture(self) -> None:
        result: CameraState = "failed"
        try:
            result = self._connect_loop()
        except Exception as err:  # a bug here must show in status, not kill silently
            log.exception("camera %s: capture crashed", self.camera_id)
            self._error(err)
        finally:
            with self._cond:
                self._capture_done, self._capture_result = True, result
                self._cond.notify_all()

    def _connect_loop(self) -> CameraState:
        limit = self.cfg.reconnect.max_attempts
        first = True
        while not self._stop.is_set():
            if not first:
                if limit is not None and self._backoff.attempts >= limit:
                    self._error(f"gave up after {limit} failed attempts; last: {self._last_error}")
                    return "failed"
                self._sleep(self._backoff.next_delay())
                if self._stop.is_set():
                    break
                with self._cond:
                    self._reconnects += 1
                self._m_reconnects.inc()
            first = False
            try:
                self.camera.open()
                if self._stream():
                    return "finished"
            except CameraDisconnected as err:
                self._retry_later(err)
            except StreamprocError as err:  # missing or corrupt footage: retrying cannot help
                log.error("camera %s: %s", self.camera_id, err)
                self._error(err)
                return "failed"
            except Exception as err:  # cv2 / OS errors of a flaky device: treat as a drop
                self._retry_later(err)
            finally:
                self.camera.close()
        return "stopped"

    def _retry_later(self, err: Exception) -> None:
        log.warning("camera %s: %s; reconnecting", self.camera_id, err)
        self._error(err)
        self._set_state("reconnecting")

    def _stream(self) -> bool:
        """Read until the source ends (True) or stop() is called (False)."""
        self._sampler.reset()
        fps = self.camera.fps
        self._set_max_gap(fps)
        first = self._handed_before  # the next frame handed on starts after a reconnect
        pace = fps if fps and self.cfg.realtime and not self.camera.live else None
        start, n = self._clock(), 0
        skipping = self._skip_before > 0
        while not self._stop.is_set():
            if pace and not skipping:
                now = self._clock()
                wait = start + n / pace - now
                if wait > 1 + 2 / pace or wait < -1:
                    # The wall clock stepped, or decoding fell behind by over a second:
                    # re-anchor rather than sleep long or burst to catch up.
                    start, wait = now - n / pace, 0.0
                if wait > 0:
                    self._sleep(wait)
                    if self._stop.is_set():
                        break
            with stage("camera"):
                frame = self.camera.read()
            if frame is None:
                return True
            if n == 0:
                self._backoff.reset()
                self._set_state("streaming")
            if skipping:
                skipping = frame.index + 1 < self._skip_before
                if not skipping:  # pacing starts with the first frame handed on
                    start, n = self._clock(), -1
            n += 1
            self._m_in.inc()
            with self._cond:
                self._last_frame_time = frame.timestamp
            if frame.index < self._skip_before:
                self._sampler.keep(frame.pts)  # the sampling the earlier process did
                continue
            if not self._sampler.keep(frame.pts):
                self._drop("fps")
                continue
            with stage("camera"):
                frame = self._prepare(frame)
            if first:
                first = False
                frame = replace(frame, discontinuity="reconnect")
            self._handed_before = True
            self._hand_off(frame)
        return False

    def _set_max_gap(self, source_fps: float | None) -> None:
        """The break detector's longest step: ``max_gap_intervals`` intervals at the rate
        frames are kept at (the target fps, or the source's own rate when lower)."""
        gaps = self.cfg.max_gap_intervals
        rates = [f for f in (self.cfg.fps, source_fps) if f]
        rate = min(rates) if rates else self.cfg.source_fps
        self._breaks.max_gap_s = None if gaps is None else gaps / rate  # one assignment: atomic

    def _prepare(self, frame: Frame) -> Frame:
        img = frame.image
        if self.cfg.color and img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif not self.cfg.color and img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if self.cfg.resize and (img.shape[1], img.shape[0]) != self.cfg.resize:
            img = cv2.resize(img, self.cfg.resize, interpolation=cv2.INTER_AREA)
        return frame if img is frame.image else replace(frame, image=img)

    def _hand_off(self, frame: Frame) -> None:
        with self._cond:
            if not self._drop_oldest:
                while len(self._queue) >= self._queue_size and not self._stop.is_set():
                    self._cond.wait(0.1)
            evict = len(self._queue) >= self._queue_size
            if evict:
                old = self._queue.popleft()
                if old.discontinuity is not None:  # the break is still before the next frame
                    if self._queue:
                        self._queue[0] = replace(self._queue[0], discontinuity=old.discontinuity)
                    elif frame.discontinuity is None:
                        frame = replace(frame, discontinuity=old.discontinuity)
            self._queue.append(frame)
            self._cond.notify_all()
        if evict:
            self._drop("backpressure")

    # -- delivery thread -------------------------------------------------------------

    def _deliver(self) -> None:
        while True:
            with self._cond:
                while not (self._queue or self._capture_done or self._stop.is_set()):
                    self._cond.wait(0.5)
                if self._stop.is_set():
                    final: CameraState = "stopped"
                    break
                if not self._queue:
                    final = self._capture_result
                    break
                frame = self._queue.popleft()
                self._cond.notify_all()  # room for a capture thread waiting on a full queue
            reason = self._breaks.check(frame)  # this thread's own: no lock needed
            if reason is not None:
                frame = self._broken(frame, reason)
            try:
                self._on_frame(self.camera_id, frame)
            except Exception as err:  # the consumer's problem must not stop the camera
                self._consumer_failed(err)
            else:
                with self._cond:
                    self._frames += 1
        if final == "finished" and self._on_end is not None:
            try:
                self._on_end(self.camera_id)
            except Exception as err:
                self._consumer_failed(err)
        self._set_state(final)
        self._m_up.set(0)

    def _broken(self, frame: Frame, reason: str) -> Frame:
        CAPTURE_BREAKS.labels(camera=self.camera_id, reason=reason).inc()
        log.info(
            "camera %s: capture break (%s) before frame %d", self.camera_id, reason, frame.index
        )
        return frame if frame.discontinuity == reason else replace(frame, discontinuity=reason)

    def _consumer_failed(self, err: Exception) -> None:
        self._error(err)
        self._drop("error")
        now = time.monotonic()
        if now - self._last_consumer_log >= 10:  # at most one traceback per 10 s per camera
            self._last_consumer_log = now
            log.exception("camera %s: on_frame failed; the frame is dropped", self.camera_id)
