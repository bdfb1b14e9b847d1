"""Live camera sources: one protocol, and file, stream and synthetic implementations.

A ``CameraSource`` is opened, read one ``Frame`` at a time and closed. ``read`` returns
None only at the end of a finite source; a network or device failure raises
``CameraDisconnected``, which the runner answers by reconnecting with backoff. Missing
or corrupt footage raises ``DataError``, which no reconnect can fix.

Sources never pace or sample themselves: the runner does that for every source alike,
using ``live`` (frames arrive at their own pace) and ``Frame.pts``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from streamproc.config.cameras import CameraConfig
from streamproc.errors import DataError, StreamprocError
from streamproc.redaction import redact_url
from streamproc.sources.frames import VIDEO_SUFFIXES, read_frames
from streamproc.sources.rtsp import Transport, describe_failure, is_rtsp, open_rtsp

Clock = Callable[[], float]


class CameraError(StreamprocError):
    """A camera cannot deliver frames."""


class CameraDisconnected(CameraError):
    """Opening or reading a stream or device failed; retrying later may succeed."""


@dataclass(frozen=True)
class Frame:
    """One captured frame."""

    image: np.ndarray  # (H, W) gray or (H, W, 3) BGR, uint8
    timestamp: float  # capture time, unix seconds; rides in the window on the wire
    index: int  # frames read since the source object was created (continues over loops)
    pts: float  # seconds on the source's own timeline; fps sampling uses it, not the wall clock
    label: int | None = None  # ground truth (1 = anomaly in view) where the source knows it
    # Why this frame does not continue the one before it ("reconnect", "loop", "gap",
    # "cut"; sources/breaks.py), None when it does: no window may span the two.
    discontinuity: str | None = None


class CameraSource(Protocol):
    @property
    def camera_id(self) -> str: ...

    @property
    def live(self) -> bool:
        """Frames arrive at the source's own pace (a stream), so playback is never paced."""

    @property
    def finite(self) -> bool:
        """The source ends and replays the same frames when opened again (a file that is
        not looped), so a restarted ingest can continue it where it left off."""

    @property
    def fps(self) -> float | None:
        """Native frame rate, known after open(); None = unknown."""

    def open(self) -> None:
        """Connect or rewind; raises CameraDisconnected (retryable) or DataError (not)."""

    def read(self) -> Frame | None:
        """The next frame; None = a finite source has ended."""

    def close(self) -> None:
        """Release the device or file; safe to call twice."""


class FileCamera:
    """A video file or a frame folder played as a camera, optionally looped."""

    live = False

    def __init__(
        self,
        camera_id: str,
        path: Path,
        *,
        source_fps: float = 10.0,
        loop: bool = False,
        clock: Clock = time.time,
    ) -> None:
        self.camera_id, self.path, self.loop, self._clock = camera_id, Path(path), loop, clock
        self.finite = not loop
        self._source_fps = source_fps
        self.fps: float | None = None
        self._frames: Iterator[np.ndarray] | None = None
        self._pending: np.ndarray | None = None
        self._index = 0

    def open(self) -> None:
        if not self.path.exists():
            raise DataError(f"camera {self.camera_id}: {self.path} does not exist; fix its source")
        self.fps = self._probe_fps() or self._source_fps
        self._rewind()

    def _probe_fps(self) -> float | None:
        if self.path.is_dir() or self.path.suffix.lower() not in VIDEO_SUFFIXES:
            return None
        cap = cv2.VideoCapture(str(self.path))
        try:
            fps = float(cap.get(cv2.CAP_PROP_FPS))
        finally:
            cap.release()
        return fps if 0 < fps <= 240 else None  # containers without a rate report 0 or junk

    def _rewind(self) -> None:
        self._frames = read_frames(self.path)
        # Decoding the first frame now makes a corrupt file fail in open(), not mid-stream.
        self._pending = next(self._frames, None)
        if self._pending is None:
            raise DataError(f"camera {self.camera_id}: {self.path} holds no frames")

    def read(self) -> Frame | None:
        if self._frames is None:
            raise CameraError(f"camera {self.camera_id}: read() before open()")
        image = self._pending
        wrapped = False
        if image is None and self.loop:
            self._rewind()
            image, wrapped = self._pending, True
        if image is None:
            return None
        self._pending = next(self._frames, None)
        assert self.fps is not None
        # The source's own timeline runs on over a wrap (pts keeps fps sampling steady);
        # the flag tells the runner the footage jumped back.
        frame = Frame(
            image,
            self._clock(),
            self._index,
            self._index / self.fps,
            discontinuity="loop" if wrapped else None,
        )
        self._index += 1
        return frame

    def close(self) -> None:
        self._frames, self._pending = None, None


CaptureFactory = Callable[[str | int, float], Any]


def open_capture(target: str | int, timeout_s: float) -> Any:
    """A cv2.VideoCapture whose open and read give up after ``timeout_s`` (FFmpeg backend)."""
    ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    return cv2.VideoCapture(target, cv2.CAP_ANY, params)


UNTIMED_FRAMES = 5  # frames a stream may report position 0 before it counts as untimed
# When a stream stalls (the server alive, no packets), OpenCV's FFmpeg read gives up at
# its read timeout but hands out the decoder's last frame the first two times, failing
# only at the third: measured on GStreamer's RTSP server over TCP and over UDP, stale
# frames at 2.0 and 4.0 s and the failure at 6.0 s with a 2 s timeout (with 10 s: a dead
# camera "up" for 30 s, scoring a stale frame every 10 s). A read that took this much of
# the timeout is such a frame: the stream stalled.
STALL_FRACTION = 0.9


class StreamCamera:
    """An RTSP / HTTP stream or a capture device through cv2.VideoCapture.

    A frame's ``pts`` is the stream's own presentation time (``CAP_PROP_POS_MSEC``), not
    the time it was read: on connecting, a client is handed seconds of buffered frames
    within milliseconds (measured: 27 frames of a 10 fps GStreamer RTSP stream in 37 ms),
    and fps sampling on arrival times would keep the first, drop the burst and keep the
    next, a 2.7 s jump in the footage between two consecutive kept frames, which the
    model scores as motion: the start transient of a live camera that a clip offline
    never has. A stream or device that reports no positions is timed by arrival since
    it was opened."""

    live = True
    finite = False

    def __init__(
        self,
        camera_id: str,
        target: str | int,
        *,
        timeout_s: float = 10.0,
        clock: Clock = time.time,
        capture_factory: CaptureFactory = open_capture,
        rtsp_transport: Transport = "auto",
    ) -> None:
        self.camera_id, self.target, self.timeout_s = camera_id, target, timeout_s
        self.rtsp_transport = rtsp_transport
        self.transport: str | None = None  # the RTP transport the open connection uses
        self._clock, self._factory = clock, capture_factory
        self.fps: float | None = None
        self._cap: Any = None
        self._index = 0
        self._opened_at = 0.0
        self._timed = False  # this connection reports presentation times
        self._last_pts = 0.0
        self._first_index = 0

    @property
    def where(self) -> str:
        return f"device {self.target}" if isinstance(self.target, int) else redact_url(self.target)

    def open(self) -> None:
        self.close()
        if is_rtsp(self.target):
            assert isinstance(self.target, str)
            cap, self.transport = open_rtsp(
                self._factory, self.target, self.timeout_s, self.rtsp_transport, self.camera_id
            )
            if self.transport is None:
                cap.release()
                why = describe_failure(self.target, self.timeout_s, self.rtsp_transport)
                raise CameraDisconnected(f"camera {self.camera_id}: {why}")
        else:
            cap = self._factory(self.target, self.timeout_s)
        if not cap.isOpened():
            cap.release()
            hint = (
                "check the device exists (ls /dev/video*) and is not in use"
                if isinstance(self.target, int)
                else "check the URL, credentials and that the camera is reachable"
            )
            raise CameraDisconnected(f"camera {self.camera_id}: cannot open {self.where}; {hint}")
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.fps = fps if 0 < fps <= 240 else None
        self._cap = cap
        self._opened_at, self._timed, self._last_pts = self._clock(), False, 0.0
        self._first_index = self._index

    def read(self) -> Frame | None:
        if self._cap is None:
            raise CameraDisconnected(f"camera {self.camera_id}: {self.where} is not open")
        started = time.monotonic()
        ok, image = self._cap.read()
        if not ok or image is None:
            raise CameraDisconnected(
                f"camera {self.camera_id}: no frame from {self.where} within {self.timeout_s:g} s "
                "(stream ended or connection lost)"
            )
        waited = time.monotonic() - started
        if waited >= STALL_FRACTION * self.timeout_s:
            # Not scored: a stalled stream's stale frame, handed out as the read timed out.
            raise CameraDisconnected(
                f"camera {self.camera_id}: {self.where} stalled (a frame took {waited:.1f} s, "
                f"the read timeout is {self.timeout_s:g} s); reconnecting"
            )
        now = self._clock()
        frame = Frame(image, now, self._index, self._pts(now))
        self._index += 1
        return frame

    def _pts(self, now: float) -> float:
        """The frame's time on the stream's timeline, seconds since the connection's start."""
        pos = float(self._cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000
        if math.isfinite(pos) and pos > 0:
            self._timed = True
            self._last_pts = pos
        elif not self._timed:
            # FFmpeg reports 0 for an RTSP stream's first two frames, then positions; a
            # source still at 0 after a few frames reports none: time it by arrival.
            early = self._index - self._first_index < UNTIMED_FRAMES and pos == 0
            self._last_pts = 0.0 if early else now - self._opened_at
        # else: a timed stream repeating an unknown position keeps the last one
        return self._last_pts

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


@dataclass
class _Mover:
    """Something moving through the synthetic scene, in pixels and pixels per second."""

    kind: str  # "person" (normal) or an anomaly: "cart", "bike", "lawn"
    x: float
    y: float
    vx: float
    vy: float = 0.0
    phase: float = 0.0  # of the leg swing


class SyntheticScene:
    """A walkway seen from above: pedestrians walk along it; at seeded random times an
    anomaly appears, a fast cart or bike on the walkway or a pedestrian crossing the lawn.

    Deterministic for (seed, size, fps). Speeds are in pixels per second of a 360-px-wide
    view (a person is about 10 px per metre), scaled to the actual width."""

    def __init__(self, seed: int = 0, size: tuple[int, int] = (240, 360), fps: float = 10.0):
        self.h, self.w = size
        self.dt = 1.0 / fps
        self.s = self.w / 360  # drawing and speed scale
        self.rng = np.random.default_rng(seed)
        self.walk = (int(0.40 * self.h), int(0.70 * self.h))  # walkway rows [top, bottom)
        self.background = self._background()
        # A few pre-drawn sensor-noise fields, picked at random per frame: cheap and seeded.
        self.noise = self.rng.normal(0, 2.5, (6, self.h, self.w)).astype(np.int16)
        self.people = [self._person(x=float(self.rng.uniform(0, self.w))) for _ in range(6)]
        self.anomaly: _Mover | None = None
        self.t = 0.0
        self.next_anomaly = float(self.rng.uniform(5, 12))

    def _background(self) -> np.ndarray:
        h, w = self.h, self.w
        img = cv2.GaussianBlur(85 + self.rng.normal(0, 6, (h, w)), (0, 0), 1.2)  # grass
        top, bottom = self.walk
        img[top:bottom] = 150 + self.rng.normal(0, 2, (bottom - top, w))
        for x in range(0, w, max(8, int(24 * self.s))):  # paving joints
            img[top:bottom, x] -= 18
        img[top], img[bottom - 1] = 120, 120  # kerbs
        return np.clip(img, 0, 255).astype(np.int16)

    def _person(self, x: float | None = None) -> _Mover:
        direction = float(self.rng.choice([-1.0, 1.0]))
        if x is None:  # enter from the edge the person walks away from
            x = -8.0 if direction > 0 else self.w + 8.0
        top, bottom = self.walk
        y = float(self.rng.uniform(top + 14 * self.s, bottom - 7 * self.s))
        vx = direction * float(self.rng.uniform(8, 16)) * self.s
        return _Mover("person", x, y, vx, phase=float(self.rng.uniform(0, 6.28)))

    def _start_anomaly(self) -> _Mover:
        kind = str(self.rng.choice(["cart", "bike", "lawn"]))
        direction = float(self.rng.choice([-1.0, 1.0]))
        if kind == "lawn":  # walking speed, but off the walkway and across the grass
            x = float(self.rng.uniform(0.15, 0.85)) * self.w
            vy = float(self.rng.uniform(14, 20)) * self.s
            return _Mover(kind, x, float(self.walk[1]), direction * 4 * self.s, vy)
        top, bottom = self.walk  # four to eight times walking speed along the walkway
        y = float(self.rng.uniform(top + 12 * self.s, bottom - 8 * self.s))
        vx = direction * float(self.rng.uniform(50, 80)) * self.s
        return _Mover(kind, -20 * self.s if direction > 0 else self.w + 20 * self.s, y, vx)

    def _draw_person(self, img: np.ndarray, p: _Mover, shade: int = 45) -> None:
        s, x, y = self.s, int(p.x), int(p.y)
        swing, leg, width = round(2 * s * math.sin(p.phase)), int(6 * s), max(1, int(s))
        cv2.line(img, (x, y), (x - swing, y + leg), shade, width)
        cv2.line(img, (x, y), (x + swing, y + leg), shade, width)
        body = (max(1, int(3 * s)), max(1, int(6 * s)))
        cv2.ellipse(img, (x, y - int(4 * s)), body, 0, 0, 360, shade, -1)
        cv2.circle(img, (x, y - int(12 * s)), max(1, int(3 * s)), shade + 15, -1)

    def _draw_anomaly(self, img: np.ndarray, a: _Mover) -> None:
        s, x, y = self.s, int(a.x), int(a.y)
        if a.kind == "lawn":
            self._draw_person(img, a, shade=40)
        elif a.kind == "cart":  # a big box on wheels
            cv2.rectangle(
                img, (x - int(12 * s), y - int(9 * s)), (x + int(12 * s), y + int(5 * s)), 35, -1
            )
            for dx in (-8, 8):
                cv2.circle(img, (x + int(dx * s), y + int(6 * s)), max(1, int(3 * s)), 20, -1)
        else:  # a bike and its rider
            width = max(1, int(s))
            for dx in (-7, 7):
                cv2.circle(img, (x + int(dx * s), y), max(2, int(5 * s)), 30, width)
            cv2.line(img, (x - int(7 * s), y), (x + int(7 * s), y), 30, width)
            rider = (max(1, int(3 * s)), max(1, int(6 * s)))
            cv2.ellipse(img, (x, y - int(9 * s)), rider, 0, 0, 360, 40, -1)

    def _move(self, m: _Mover) -> None:
        m.x += m.vx * self.dt
        m.y += m.vy * self.dt
        m.phase += 6 * self.dt

    def step(self) -> tuple[np.ndarray, int]:
        """The next frame (H, W) uint8 and its label (1 while an anomaly is in view)."""
        img = self.background.copy()
        top, bottom = self.walk
        for i, p in enumerate(self.people):
            self._move(p)
            p.y = float(
                np.clip(p.y + self.rng.normal(0, 0.3), top + 14 * self.s, bottom - 7 * self.s)
            )
            if not -10 <= p.x <= self.w + 10:
                self.people[i] = p = self._person()
            self._draw_person(img, p)
        if self.anomaly is None and self.t >= self.next_anomaly:
            self.anomaly = self._start_anomaly()
        label = 0
        if (a := self.anomaly) is not None:
            self._move(a)
            edge = 20 * self.s
            if -edge < a.x < self.w + edge and -edge < a.y < self.h + edge:
                self._draw_anomaly(img, a)
                near = 6 * self.s  # about when some of the object shows
                label = int(-near <= a.x < self.w + near and -near <= a.y < self.h + near)
            else:
                self.anomaly = None
                self.next_anomaly = self.t + float(self.rng.uniform(10, 25))
        self.t += self.dt
        img += self.noise[int(self.rng.integers(len(self.noise)))]
        return np.clip(img, 0, 255).astype(np.uint8), label


class SyntheticCamera:
    """A generated scene with ground-truth labels per frame; ``n_frames`` None = endless."""

    live = False

    def __init__(
        self,
        camera_id: str,
        *,
        seed: int = 0,
        fps: float = 10.0,
        size: tuple[int, int] = (240, 360),
        n_frames: int | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.camera_id, self.seed, self.size, self.n_frames = camera_id, seed, size, n_frames
        self.finite = n_frames is not None
        self.fps: float | None = fps
        self._clock = clock
        self._scene: SyntheticScene | None = None
        self._index = 0

    def open(self) -> None:
        assert self.fps is not None
        self._scene, self._index = SyntheticScene(self.seed, self.size, self.fps), 0

    def read(self) -> Frame | None:
        if self._scene is None:
            raise CameraError(f"camera {self.camera_id}: read() before open()")
        if self.n_frames is not None and self._index >= self.n_frames:
            return None
        image, label = self._scene.step()
        assert self.fps is not None
        frame = Frame(image, self._clock(), self._index, self._index / self.fps, label)
        self._index += 1
        return frame

    def close(self) -> None:
        self._scene = None


def open_camera(cfg: CameraConfig, clock: Clock = time.time) -> CameraSource:
    """The source named by ``cfg.source``, not yet opened (the runner opens it, so an
    unreachable camera goes through the same reconnect path as one that drops later)."""
    spec = cfg.spec
    if spec.kind == "synthetic":
        size = (cfg.resize[1], cfg.resize[0]) if cfg.resize else (240, 360)
        return SyntheticCamera(
            cfg.id, seed=spec.seed or 0, fps=cfg.source_fps, size=size, clock=clock
        )
    if spec.kind == "file":
        return FileCamera(
            cfg.id, Path(spec.target), source_fps=cfg.source_fps, loop=cfg.loop, clock=clock
        )
    target: str | int = spec.device if spec.device is not None else spec.target
    return StreamCamera(
        cfg.id, target, timeout_s=cfg.timeout_s, clock=clock, rtsp_transport=cfg.rtsp_transport
    )
