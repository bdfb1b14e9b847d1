"""Ingest: one process serving many cameras, each cut into windows and produced to Kafka.

Per enabled camera: a ``CameraRunner`` (capture, fps sampling, reconnects) feeding a
``Windower``; every window is encoded in the wire format and sent to the frames topic
keyed by camera id, so one camera's windows stay ordered in one partition.

Sequence numbers count the frames a camera handed on after fps sampling, from 0 and
without gaps, so downstream windows of a camera are contiguous. A finite camera (a file)
keeps a position in the state store (``runtime/positions.py``): a restarted ingest
continues it after the last acknowledged window, in the same session and numbering.
Frames dropped because the producer side was too slow are never numbered; the capture
timestamps in each window show such a gap, as they show a reconnect.

A frame the runner marks as a break in capture (``Frame.discontinuity``: a reconnect, a
looped file's wrap, a gap, a cut; ``sources/breaks.py``) starts a new segment: the old
segment's end-aligned tail window is sent, and windows start afresh, numbered with the
next ``segment`` on the wire, so that none spans the break and the worker restarts the
camera's smoothing there.

With wire version 2 (the default) a message carries only the frames the camera's
previous message did not (``transport/wire.py``); it is made whole again when it is the
camera's first, after a window that was not sent or not delivered, after a change of
frame size, or after ``WHOLE_AFTER_S`` without a message.

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
from streamproc.ratelimit import Every
from streamproc.runtime.positions import Positions, fingerprint
from streamproc.sources.camera import CameraSource, Clock, Frame, open_camera
from streamproc.sources.runner import CameraRunner, CameraStatus
from streamproc.threshold.base import IngestPosition
from streamproc.transport.base import Producer
from streamproc.transport.errors import TransportError
from streamproc.transport.wire import WHOLE_AFTER_S, WireWindow, encode_window
from streamproc.windowing.windows import Window, Windower

log = logging.getLogger(__name__)
WARN_EVERY_S = 10.0  # at most one undelivered-window warning per camera this often

CameraFactory = Callable[[CameraConfig, Clock], CameraSource]


@dataclass
class _CameraPipe:
    """Windowing state of one camera; touched only by that camera's delivery thread."""

    windower: Windower
    labels: deque[int | None]
    stream: str  # the capture session its sequence numbers belong to
    jpeg: bool = False  # switched to JPEG because raw windows are too large
    too_large_logged: bool = False
    header: list[tuple[str, bytes]] = field(default_factory=list)
    # (seq, source index) of the frames the windower holds, for the camera's position
    indexes: deque[tuple[int, int]] = field(default_factory=deque)
    last_sent: int = -1  # last frame of the newest window handed to the producer
    # The previous message, for wire version 2: (window seq, last frame, frame shape, segment)
    sent: tuple[int, int, tuple[int, ...], int] | None = None
    sent_at: float = 0.0  # monotonic time it was handed to the producer
    whole_next: bool = False  # a message was not delivered: send the next one whole


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
        wire_version: Literal[1, 2] = 2,
        queue_size: int = 8,
        clock: Clock = time.time,
        sleep: Callable[[float], object] | None = None,
        camera_factory: CameraFactory = open_camera,
        positions: Callable[[], Positions] | None = None,
        from_start: bool = False,
    ) -> None:
        """``positions`` opens the store of finite cameras' positions (called only if a
        camera is finite); ``from_start`` ignores stored positions (a new session)."""
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
        # Sequence numbers restart at 0 with every Ingest (except for resumed cameras,
        # which keep their session); this id tells workers so.
        self.stream = f"{int(clock() * 1000):x}-{uuid.uuid4().hex[:8]}"
        self.max_message_bytes, self.jpeg_quality = max_message_bytes, jpeg_quality
        self.codec, self.wire_version = codec, wire_version
        # Producers are not promised to be thread-safe; sends are short, so one lock is cheap.
        self._send_lock = threading.Lock()
        self._warn = Every(WARN_EVERY_S)  # per camera: an outage fails every window
        self._pipes = {
            c.id: _CameraPipe(
                Windower(c.id, window_length, window_stride),
                deque(maxlen=window_length),
                self.stream,
                jpeg=codec == "jpeg",
                header=[("camera", c.id.encode())],
                indexes=deque(maxlen=window_length + 1),
            )
            for c in enabled
        }
        sources = {c.id: camera_factory(c, clock) for c in enabled}
        finite = any(src.finite for src in sources.values())
        self.positions = positions() if positions is not None and finite else None
        self.done: dict[str, CameraStatus] = {}  # finished before this process started
        self.runners: dict[str, CameraRunner] = {}
        for c in enabled:
            skip = 0
            if self.positions is not None and sources[c.id].finite:
                resumed = self._resume(c, self.positions, from_start)
                if resumed is None:
                    self.done[c.id] = CameraStatus(c.id, "finished", 0, 0, None, None, 0)
                    continue
                skip = resumed
            self.runners[c.id] = CameraRunner(
                c,
                self._on_frame,
                camera=sources[c.id],
                clock=clock,
                sleep=sleep,
                queue_size=queue_size,
                on_end=self._on_end,
                skip_before=skip,
            )

    def _resume(self, cfg: CameraConfig, positions: Positions, from_start: bool) -> int | None:
        """Set up a finite camera from its stored position: the source index to continue
        from, or None if it was already sent to its end."""
        pipe = self._pipes[cfg.id]
        windower = pipe.windower
        fp = fingerprint(cfg, windower.length, windower.stride)
        pos = None if from_start else positions.load(cfg.id, fp)
        if pos is None:
            pos = IngestPosition(stream=self.stream, fingerprint=fp)
        elif pos.finished:
            log.info(
                "camera %s: its source was sent to the end (session %s) before this process "
                "started; not sending it again (to replay it: streamproc ingest --from-start)",
                cfg.id,
                pos.stream,
            )
            return None
        elif pos.last_seq >= 0:
            windower.resume(pos.resume_seq, pos.last_seq)
            pipe.last_sent = pos.last_seq
            log.info(
                "camera %s: resuming session %s after frame %d (source frame %d on)",
                cfg.id,
                pos.stream,
                pos.last_seq,
                pos.resume_index,
            )
        pipe.stream = pos.stream
        positions.begin(cfg.id, pos)
        return pos.resume_index if pos.last_seq >= 0 else 0

    def start(self) -> None:
        if self.positions is not None:
            self.positions.start()
        for runner in self.runners.values():
            runner.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop every camera, wait for them and flush the producer (its owner closes it).
        True if every camera thread ended within ``timeout_s``."""
        for runner in self.runners.values():
            runner.stop()
        ended = self.join(timeout_s)
        self.producer.flush(timeout_s)
        if self.positions is not None:
            self.positions.stop()  # after the flush: its acknowledgements are in
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
        return {**self.done, **{cid: runner.status() for cid, runner in self.runners.items()}}

    @property
    def finished(self) -> bool:
        """True once no camera will produce again (finished, failed or stopped). A live
        stream only gets there by failing for good or being stopped."""
        return all(runner.ended for runner in self.runners.values())

    def _on_frame(self, camera_id: str, frame: Frame) -> None:
        pipe = self._pipes[camera_id]
        if frame.discontinuity is not None:
            with stage("windowing"):
                tail = pipe.windower.new_segment()
            if tail is not None:  # the labels and indexes still end at the tail's last frame
                self._send(camera_id, pipe, tail)
        pipe.labels.append(frame.label)
        pipe.indexes.append((pipe.windower.next_seq, frame.index))
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
        if self.positions is not None:
            self.positions.ended(camera_id, pipe.last_sent)

    def _send(self, camera_id: str, pipe: _CameraPipe, window: Window) -> None:
        wire = WireWindow(
            camera_id,
            window.seq,
            window.frames,
            window.timestamps,
            window.context,
            pipe.stream,
            window.segment,
        )
        carried = self._carried(pipe, window)
        with stage("encode"):
            value = self._encode(pipe, wire, carried)
        if value is None:
            pipe.sent = None  # the worker does not get these frames: the next goes whole
            return
        headers = list(pipe.header)
        # The windower's window ends at the frame just pushed, as does the label deque.
        labels = list(pipe.labels)
        if any(label is not None for label in labels):
            headers.append(("labels", json.dumps(labels).encode()))
        mark = self._mark(pipe, window.seq + len(window.frames) - 1)
        try:
            with self._send_lock, stage("produce"):
                self.producer.send(
                    self.frames_topic,
                    value,
                    key=camera_id.encode(),
                    headers=headers,
                    on_delivery=lambda err: self._delivered(camera_id, err, mark),
                )
        except TransportError as err:
            # The broker is unreachable (the producer retries it on the next send) or
            # refused this window: it is lost like an undelivered one, and the camera
            # goes on, so an outage of any length ends with ingest sending again.
            self._delivered(camera_id, err, mark)
            return
        pipe.last_sent = mark[0]
        pipe.sent = (window.seq, mark[0], window.frames.shape[1:], window.segment)
        pipe.sent_at = time.monotonic()
        size = len(value) + len(camera_id.encode()) + sum(len(k) + len(v) for k, v in headers)
        FRAMES_TOPIC_BYTES.labels(codec="jpeg" if pipe.jpeg else "raw").inc(size)

    def _carried(self, pipe: _CameraPipe, window: Window) -> int | None:
        """How many leading frames (context included) the worker has from the camera's
        previous message: None for wire version 1, 0 for a whole window."""
        if self.wire_version < 2:
            return None
        prev = None if pipe.whole_next else pipe.sent
        pipe.whole_next = False  # a failure reported from here on makes the next one whole
        first = window.seq - int(window.context is not None)
        last = window.seq + len(window.frames) - 1
        if (
            prev is None
            or time.monotonic() - pipe.sent_at > WHOLE_AFTER_S
            or first < prev[0]  # the worker keeps frames from the previous window's seq on
            or prev[2] != window.frames.shape[1:]
            or prev[3] != window.segment  # a segment never carries frames of the one before
        ):
            return 0
        return max(0, min(prev[1], last - 1) - first + 1)

    @staticmethod
    def _mark(pipe: _CameraPipe, last: int) -> tuple[int, int, int]:
        """The position after a window ending at frame ``last``: (last, resume seq, the
        source index of that frame)."""
        seq = pipe.windower.resume_seq(last)
        return last, seq, dict(pipe.indexes)[seq]

    def _delivered(
        self, camera_id: str, err: BaseException | None, mark: tuple[int, int, int]
    ) -> None:
        """A window is counted as sent only once the broker acknowledged it."""
        if err is None:
            WINDOWS_SENT.labels(camera=camera_id).inc()
            if self.positions is not None:
                self.positions.acked(camera_id, *mark)
            return
        WINDOWS_DELIVERY_FAILED.labels(camera=camera_id).inc()
        # The next message goes whole: the worker never got this one's frames.
        self._pipes[camera_id].whole_next = True
        if self._warn.due(camera_id):
            log.warning("camera %s: a window was not delivered: %s", camera_id, err)

    def _encode(self, pipe: _CameraPipe, wire: WireWindow, carried: int | None) -> bytes | None:
        """The window in the camera's codec (cameras.codec), without its first ``carried``
        frames; None if it is too large."""
        limit = self.max_message_bytes
        if not pipe.jpeg:
            raw = encode_window(wire, "raw", carried=carried)
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
        value = encode_window(wire, "jpeg", self.jpeg_quality, carried)
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
