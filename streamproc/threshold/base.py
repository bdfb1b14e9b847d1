"""The per-camera state boundary: settings operators change, and the state a stream
worker keeps between windows (adaptive threshold statistics, smoothing state, the open
alert, the alert outbox). One protocol, two peers: ``redis`` (shared by many workers)
and ``embedded`` (SQLite file, single machine). Both make every read-modify-write of a
camera's state atomic, so two workers racing during a rebalance cannot corrupt it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

R = TypeVar("R")

Point = tuple[float, float]


class CameraSettings(BaseModel):
    """What an operator sets per camera (``streamproc camera set ...``).

    Validated on write (the CLI) and on every read: a value the decision stage would
    reject (a negative threshold, a two-point polygon) must fail where the operator
    types it, not later in the worker for every window of the camera."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="Fixed threshold; overrides calibration."
    )
    threshold_k: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="k of mean + k std for this camera."
    )
    roi: list[list[Point]] = Field(
        default_factory=list,
        description="Regions of interest as polygons in relative coordinates (0..1, x then y); "
        "error outside every polygon is ignored. Empty = whole frame.",
    )
    exclude: list[list[Point]] = Field(
        default_factory=list, description="Polygons whose error is always ignored (e.g. a road)."
    )

    @field_validator("roi", "exclude")
    @classmethod
    def _polygons(cls, polygons: list[list[Point]]) -> list[list[Point]]:
        for poly in polygons:
            problem = polygon_problem(poly)
            if problem:
                raise ValueError(problem)
        return polygons


def polygon_problem(points: list[Point]) -> str | None:
    """Why ``points`` is not a usable region (None if it is): the one rule for polygons."""
    if len(points) < 3:
        return f"a polygon needs at least 3 points, got {len(points)}"
    if not all(math.isfinite(v) and 0 <= v <= 1 for pt in points for v in pt):
        return "a polygon needs coordinates in 0..1 (relative, x then y)"
    return None


class RunningStats(BaseModel):
    """Exponentially weighted mean and variance of recent normal frame scores."""

    model_config = ConfigDict(extra="forbid")

    count: int = 0
    mean: float = 0.0
    var: float = 0.0

    def update(self, x: float, halflife: float, cap: float | None = None) -> None:
        """Take one score. Above ``cap`` (the threshold in force) it moves the mean as
        ``cap`` would and leaves the variance alone, so an incident lifts the normal level
        by at most the threshold's distance a frame (times alpha) and cannot inflate the
        spread; a lasting change of level is still followed."""
        alpha = max(1.0 / (self.count + 1), 1 - 0.5 ** (1 / halflife))
        self.count += 1
        if cap is not None and x > cap:
            self.mean += alpha * (cap - self.mean)
            return
        delta = x - self.mean
        self.mean += alpha * delta
        self.var = (1 - alpha) * (self.var + alpha * delta * delta)


class OpenAlert(BaseModel):
    """An incident in progress. It ends only after ``cooldown`` frames without an active
    decision, so a flicker inside one incident does not open a second event."""

    model_config = ConfigDict(extra="forbid")

    event_id: str
    start_seq: int
    start_time: float
    peak_score: float
    last_update_seq: int
    last_active_seq: int
    last_active_time: float


RETIRED_STREAMS_KEPT = 8  # a late window of an older session than these starts anew


class CameraState(BaseModel):
    """Everything a worker needs to continue a camera exactly where another left off.

    Fields added later have defaults, so a state written by an older version loads."""

    model_config = ConfigDict(extra="forbid")

    stream: str = ""  # capture session the sequence numbers belong to
    # Sessions replaced by a newer one (oldest first, at most RETIRED_STREAMS_KEPT): their
    # late or redelivered windows are skipped. Streams are told apart by id, never by
    # timestamp, so neither a clock running behind nor one running ahead mutes a camera.
    retired_streams: list[str] = Field(default_factory=list)
    last_seq: int = -1  # highest frame sequence number already applied
    last_time: float = 0.0  # capture time of that frame (the ingest host's clock)
    seen_at: float = 0.0  # wall time (the worker's clock) a window was last applied
    # The capture segment of the frames applied last (the wire's ``segment``: it changes
    # at a break in capture) and the sequence number its first applied frame had; frames
    # less than ``alerts.warmup_frames`` past it cannot open an incident. 0 keeps a state
    # written before segments existed warm.
    segment: int = 0
    segment_start: int = 0
    stats: RunningStats = Field(default_factory=RunningStats)
    decider: dict[str, Any] | None = None  # smoothing.Decider snapshot
    alert: OpenAlert | None = None
    # Messages (scores and alert events) decided with this state but not yet confirmed
    # published: a transactional outbox, so a crash between the state write and the
    # publish re-sends them instead of losing them.
    outbox: list[dict[str, Any]] = Field(default_factory=list)


class IngestPosition(BaseModel):
    """How far ingest got with a finite camera (a file), so a restarted ingest continues
    after the last window the broker acknowledged instead of replaying the file.

    A camera's frames are numbered (``seq``) after fps sampling; the source numbers its
    own frames (``index``). Resuming hands on frames from ``resume_index`` numbered from
    ``resume_seq``, with the windower as it was after the window ending at ``last_seq``."""

    model_config = ConfigDict(extra="forbid")

    stream: str  # the capture session the windows belong to; a resumed camera keeps it
    fingerprint: str  # the source and windowing it was cut with; a change starts afresh
    last_seq: int = -1  # last frame of the newest acknowledged window (-1: none yet)
    resume_seq: int = 0  # sequence number of the first frame to hand on when resuming
    resume_index: int = 0  # the source's index of that frame
    finished: bool = False  # every window of the source was acknowledged


class StateStore(Protocol):
    def get_settings(self, camera: str) -> CameraSettings: ...

    def set_settings(self, camera: str, settings: CameraSettings) -> None: ...

    def get_state(self, camera: str) -> CameraState | None: ...

    def transact(self, camera: str, fn: Callable[[CameraState | None], tuple[CameraState, R]]) -> R:
        """Atomically read the camera's state, apply ``fn`` and write what it returns.

        ``fn`` may run more than once if another writer raced it; it must be pure."""

    def get_position(self, camera: str) -> IngestPosition | None:
        """Where ingest got with the camera's finite source, if it kept a position."""

    def set_position(self, camera: str, position: IngestPosition) -> None: ...

    def cameras(self) -> list[str]:
        """Cameras with state or settings."""

    def delete(self, camera: str) -> None:
        """Forget the camera's settings, state and ingest position."""

    def close(self) -> None: ...
