"""Ingest: one process serving many cameras, each cut into windows and produced to Kafka.

Per enabled camera: a ``CameraRunner`` (capture, fps sampling, reconnects) feeding a
``Windower``; every window is encoded in the wire format and sent to the frames topic
keyed by camera id, so one camera's windows stay ordered in one partition.

Sequence numbers count the frames a camera handed on after fps sampling, from 0 and
without gaps, so downstream windows of a camera are contiguous. Frames dropped because
the producer side was too slow are never numbered; the capture timestamps in each
window show such a gap, as they show a reconnect.

Messages carry the header ``camera`` and, when the source knows the ground truth
(synthetic scenes), ``labels``: a JSON list with one 0/1 per window frame, so demos
and tests can check alerts against it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from streamproc.config.cameras import CameraConfig
from streamproc.cpu import stage
from streamproc.errors import ConfigError
from streamproc.metrics import (
    FRAMES_TOPIC_BYTES,
    WINDOWS_DELIVERY_FAILED,
    WINDOWS_SENT,
    WINDOWS_TOO_LARGE,
)
from streamproc.sources.camera import CameraSource, Clock, Frame, open_camera
from streamproc.sources.runner import CameraRunner, CameraStatus
from streamproc.transport.base import Producer
from streamproc.transport.wire import WireWindow, encode_window
from streamproc.windowing.windows import Window, Windower

log = logging.getLogger(__name__)
WARN_EVERY_S = 10.0  # at most one undelivered-window warning per camera this often

CameraFactory = Callable[[CameraConfig, Clock], CameraSource]


@dataclass
class _CameraPipe:
    """Windowing state of one camera; touched only by that camera's delivery thread."""

    windower: Windower
    labels: deque[int | None]
    jpeg: bool = False  # switched to JPEG because raw windows are too large
    too_large_logged: bool = False
    header: list[tuple[str, bytes]] = field(default_factory=list)


class Ingest:
    """Runs every enabled camera and produces its windows until stopped or all sources end."""

    def __init__(
        self,
        cameras: Iterable[CameraConfig],
        producer: Producer,
        frames_topic: str,
        *,
        window_length: int,
        window_stride: int,
        max_message_bytes: int = 1_000_000,
        codec: Literal["auto", "raw", "jpeg"] = "auto",
        jpeg_quality: int = 90,
        queue_size: int = 8,
        clock: Clock = time.time,
        sleep: Callable[[float], object] | None = None,
        camera_factory: CameraFactory = open_camera,
    ) -> None:
        if window_length < 1 or window_stride < 1:
            raise ConfigError(
                f"window length and stride must be >= 1, got {window_length} and {window_stride}"
            )
        enabled = [c for c in cameras if c.enabled]
        if not enabled:
            raise ConfigError("no enabled camera to ingest; add one under cameras.cameras")
        ids = [c.id for c in enabled]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ConfigError(f"camera ids must be unique, these repeat: {dupes}")
        self.producer, self.frames_topic = producer, frames_topic
        # Sequence numbers restart at 0 with every Ingest; this id tells workers so.
        self.stream = f"{int(clock() * 1000):x}-{uuid.uuid4().hex[:8]}"
        self.max_message_bytes, self.jpeg_quality = max_message_bytes, jpeg_quality
        self.codec = codec
        # Producers are not promised to be thread-safe; sends are short, so one lock is cheap.
        self._send_lock = threading.Lock()
        self._failure_logged: dict[str, float] = {}  # camera -> last delivery warning
        self._pipes = {
            c.id: _CameraPipe(
                Windower(c.id, window_length, window_stride),
                deque(maxlen=window_length),
                jpeg=codec == "jpeg",
                header=[("camera", c.id.encode())],
            )
            for c in enabled
        }
        self.runners = {
            c.id: CameraRunner(
                c,
                self._on_frame,
                camera=camera_factory(c, clock),
                clock=clock,
                sleep=sleep,
                queue_size=queue_size,
                on_end=self._on_end,
            )
            for c in enabled
        }

    def start(self) -> None:
        for runner in self.runners.values():
            runner.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop every camera, wait for them and flush the producer (its owner closes it).
        True if every camera thread ended within ``timeout_s``."""
        for runner in self.runners.values():
            runner.stop()
        ended = self.join(timeout_s)
        self.producer.flush(timeout_s)
        return ended

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every camera has ended; True if they all did within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for runner in self.runners.values():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = runner.join(left) and ok
        return ok

    def statuses(self) -> dict[str, CameraStatus]:
        return {cid: runner.status() for cid, runner in self.runners.items()}

    @property
    def finished(self) -> bool:
        """True once no camera will produce again (finished, failed or stopped). A live
        stream only gets there by failing for good or being stopped."""
        return all(runner.ended for runner in self.runners.values())

    def _on_frame(self, camera_id: str, frame: Frame) -> None:
        pipe = self._pipes[camera_id]
        pipe.labels.append(frame.label)
        with stage("windowing"):
            window = pipe.windower.push(frame.image, frame.timestamp)
        if window is not None:
            self._send(camera_id, pipe, window)

    def _on_end(self, camera_id: str) -> None:
        """A finite source ended: send the end-aligned tail window so every frame is scored."""
        pipe = self._pipes[camera_id]
        with stage("windowing"):
            window = pipe.windower.flush()
        if window is not None:
            self._send(camera_id, pipe, window)

    def _send(self, camera_id: str, pipe: _CameraPipe, window: Window) -> None:
        wire = WireWindow(
            camera_id, window.seq, window.frames, window.timestamps, window.context, self.stream
        )
        with stage("encode"):
            value = self._encode(pipe, wire)
        if value is None:
            return
        headers = list(pipe.header)
        # The windower's window ends at the frame just pushed, as does the label deque.
        labels = list(pipe.labels)
        if any(label is not None for label in labels):
            headers.append(("labels", json.dumps(labels).encode()))
        with self._send_lock, stage("produce"):
            self.producer.send(
                self.frames_topic,
                value,
                key=camera_id.encode(),
                headers=headers,
                on_delivery=lambda err: self._delivered(camera_id, err),
            )
        size = len(value) + len(camera_id.encode()) + sum(len(k) + len(v) for k, v in headers)
        FRAMES_TOPIC_BYTES.labels(codec="jpeg" if pipe.jpeg else "raw").inc(size)

    def _delivered(self, camera_id: str, err: BaseException | None) -> None:
        """A window is counted as sent only once the broker acknowledged it."""
        if err is None:
            WINDOWS_SENT.labels(camera=camera_id).inc()
            return
        WINDOWS_DELIVERY_FAILED.labels(camera=camera_id).inc()
        now = time.monotonic()
        if now - self._failure_logged.get(camera_id, -WARN_EVERY_S) >= WARN_EVERY_S:
            self._failure_logged[camera_id] = now  # an outage fails every window: log a few
            log.warning("camera %s: a window was not delivered: %s", camera_id, err)

    def _encode(self, pipe: _CameraPipe, wire: WireWindow) -> bytes | None:
        """The window in the camera's codec (cameras.codec); None if it is too large."""
        limit = self.max_message_bytes
        if not pipe.jpeg:
            raw = encode_window(wire, "raw")
            if len(raw) <= limit:
                return raw
            if self.codec == "raw":
                self._too_large(pipe, wire, len(raw))
                return None
            pipe.jpeg = True  # auto: this camera's raw windows do not fit
            log.info(
                "camera %s: raw windows are %d bytes, over max_message_bytes %d; sending JPEG "
                "(quality %d) from now on",
                wire.camera,
                len(raw),
                limit,
                self.jpeg_quality,
            )
        value = encode_window(wire, "jpeg", self.jpeg_quality)
        if len(value) <= limit:
            return value
        self._too_large(pipe, wire, len(value))
        return None

    def _too_large(self, pipe: _CameraPipe, wire: WireWindow, size: int) -> None:
        """A window over max_message_bytes in the camera's codec is dropped, and said."""
        WINDOWS_TOO_LARGE.labels(camera=wire.camera).inc()
        if not pipe.too_large_logged:
            pipe.too_large_logged = True
            log.error(
                "camera %s: a window is %d bytes as %s, over max_message_bytes %d; such "
                "windows are dropped: set the camera's resize (or color: false), cameras.codec "
                "auto or jpeg, or raise max_message_bytes together with the broker's "
                "message.max.bytes",
                wire.camera,
                size,
                "JPEG" if pipe.jpeg else "raw",
                self.max_message_bytes,
            )
