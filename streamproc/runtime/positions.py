"""Ingest positions: how far ingest got with each finite camera (a video file or a frame
folder that is not looped), kept in the state store, so a restarted ingest process
continues after the last window the broker acknowledged instead of replaying the file.

A resumed camera keeps its capture session (``stream``) and sequence numbers, so the
stream workers see one unbroken stream: the windows sent again (those acknowledged after
the last position write) carry frames they have applied already and change nothing.

Positions move forward in memory as the broker acknowledges windows and are written by
one thread every ``interval_s`` (a write per window would put the state store in the
producer's path); a camera's first position is written before its first window, so
even a process killed at once is resumed in the same session. A position is used only
for the same source and windowing it was cut with (``fingerprint``); anything else, or
``--from-start``, starts the camera afresh.

Live sources (streams, devices, looped files) have no position: after a restart they
start a new session, since the frames they sent meanwhile are gone anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path

from streamproc.config.cameras import CameraConfig
from streamproc.ratelimit import Every
from streamproc.threshold.base import IngestPosition, StateStore

log = logging.getLogger(__name__)
WARN_EVERY_S = 30.0  # at most one failed-write warning this often


def fingerprint(cfg: CameraConfig, length: int, stride: int) -> str:
    """What a position is valid for: the camera's source, its sampling and frame format,
    the windows cut from it, and for files on this host the file's size and time."""
    parts: dict[str, object] = {
        "source": cfg.source,
        "fps": cfg.fps,
        "source_fps": cfg.source_fps,
        "resize": cfg.resize,
        "color": cfg.color,
        "window": [length, stride],
    }
    spec = cfg.spec
    if spec.kind == "file":
        try:
            st = Path(spec.target).stat()
            parts["file"] = [st.st_size, st.st_mtime_ns]
        except OSError:
            parts["file"] = None  # opening it will say what is wrong
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Positions:
    """The positions of one ingest process's finite cameras."""

    def __init__(self, store: StateStore, interval_s: float = 1.0) -> None:
        self.store, self.interval_s = store, interval_s
        self._lock = threading.Lock()
        self._current: dict[str, IngestPosition] = {}
        self._final: dict[str, int] = {}  # camera -> last frame of its last window, once ended
        self._dirty: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warn = Every(WARN_EVERY_S)

    def load(self, camera: str, fp: str) -> IngestPosition | None:
        """The camera's stored position if it was cut the same way, else None (said)."""
        pos = self.store.get_position(camera)
        if pos is None:
            return None
        if pos.fingerprint != fp:
            log.info(
                "camera %s: its source or windowing changed since the stored ingest position; "
                "starting it afresh",
                camera,
            )
            return None
        return pos

    def begin(self, camera: str, pos: IngestPosition) -> None:
        """Track ``camera`` from ``pos``; a new camera's position is written at once."""
        with self._lock:
            self._current[camera] = pos
        if pos.last_seq < 0:
            self.store.set_position(camera, pos)

    def acked(self, camera: str, last_seq: int, resume_seq: int, resume_index: int) -> None:
        """The broker acknowledged the window of ``camera`` ending at frame ``last_seq``."""
        with self._lock:
            pos = self._current.get(camera)
            if pos is None or last_seq <= pos.last_seq:
                return
            finished = last_seq >= self._final.get(camera, last_seq + 1)
            self._current[camera] = pos.model_copy(
                update={
                    "last_seq": last_seq,
                    "resume_seq": resume_seq,
                    "resume_index": resume_index,
                    "finished": finished,
                }
            )
            self._dirty.add(camera)

    def ended(self, camera: str, last_seq: int) -> None:
        """The source ended and its last window ends at ``last_seq`` (-1: none was sent);
        the camera is finished once that window is acknowledged."""
        with self._lock:
            self._final[camera] = last_seq
            pos = self._current.get(camera)
            if pos is not None and pos.last_seq >= last_seq and not pos.finished:
                self._current[camera] = pos.model_copy(update={"finished": True})
                self._dirty.add(camera)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ingest-positions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the writer and write what is left (call after the producer's flush)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def flush(self) -> bool:
        """Write the positions that moved; False if the store failed (kept for next time)."""
        with self._lock:
            todo = {c: self._current[c] for c in self._dirty}
            self._dirty.clear()
        failed: dict[str, IngestPosition] = {}
        for camera, pos in todo.items():
            try:
                self.store.set_position(camera, pos)
            except Exception as err:  # a store error or a bug: never stop the cameras
                failed[camera] = pos
                if self._warn.due():
                    log.warning(
                        "could not write the ingest position of camera %s (%s); retrying. Until "
                        "it is written, a restart re-sends windows the workers have already "
                        "applied (they are skipped, nothing is lost)",
                        camera,
                        err,
                    )
        if failed:
            with self._lock:
                self._dirty.update(failed)
        return not failed

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()
