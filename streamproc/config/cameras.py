"""The cameras section: global camera defaults plus a list of cameras that override them.

    cameras:
      defaults: {fps: 10, resize: [360, 240]}
      cameras:
        - {id: gate, source: "rtsp://cam-gate/stream"}
        - {id: hall, source: /data/hall.mp4, loop: true, fps: 5}

Merging is frigate-style: each camera starts from ``defaults`` and its own values win,
key by key (``reconnect`` is merged key by key too). The merge happens when the section
is validated, so afterwards every camera holds its effective values and ``model_dump()``
shows what each camera really uses; a dump reloads to the same cameras.

``source`` is parsed here (``parse_source``) so a typo fails at load time, and the
sources package reuses the same parser to open the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from streamproc.config.base import StrictModel
from streamproc.ids import CAMERA_ID_RULE, is_camera_id

STREAM_SCHEMES = ("http", "https", "rtmp", "rtsp", "rtsps")
SourceKind = Literal["file", "stream", "device", "synthetic"]


@dataclass(frozen=True)
class SourceSpec:
    """A parsed ``source`` string: what kind of camera it is and where it points."""

    kind: SourceKind
    target: str  # the path or URL ("" for device and synthetic)
    device: int | None = None  # V4L2 / capture device index
    seed: int | None = None  # synthetic scene seed


def parse_source(source: str) -> SourceSpec:
    """Classify a camera ``source``; an unusable string raises ValueError saying why."""
    s = source.strip()
    if not s:
        raise ValueError("source is empty; expected a path, a URL, a device index or 'synthetic'")
    if s == "synthetic" or s.startswith("synthetic:"):
        seed = s.partition(":")[2] or "0"
        if not seed.isdigit():
            raise ValueError(f"synthetic seed must be a non-negative integer, got {seed!r}")
        return SourceSpec("synthetic", "", seed=int(seed))
    if s.isdigit() or s.startswith("device:"):
        index = s.removeprefix("device:")
        if not index.isdigit():
            raise ValueError(f"device index must be a non-negative integer, got {index!r}")
        return SourceSpec("device", "", device=int(index))
    if "://" in s:
        scheme = s.split("://", 1)[0].lower()
        if scheme == "file":
            return SourceSpec("file", s.split("://", 1)[1])
        if scheme not in STREAM_SCHEMES:
            raise ValueError(
                f"URL scheme {scheme!r} is not supported; expected one of "
                f"{', '.join(STREAM_SCHEMES)} (or file://, a path, a device index, 'synthetic')"
            )
        return SourceSpec("stream", s)
    # Anything else is a video file or a frame folder; existence is checked when opened,
    # because the config may be validated on a machine that does not hold the footage.
    return SourceSpec("file", s)


class ReconnectConfig(StrictModel):
    """Exponential backoff between attempts to (re)open a camera."""

    initial_s: float = Field(0.5, gt=0, description="Delay before the first reconnect, seconds.")
    max_s: float = Field(30.0, gt=0, description="Upper bound of the delay, seconds.")
    multiplier: float = Field(2.0, ge=1, description="Growth of the delay per failed attempt.")
    jitter: float = Field(
        0.2,
        ge=0,
        le=1,
        description=(
            "Random shortening of each delay (0.2 = 80-100% of the step), so cameras that "
            "dropped together do not all hit the network again at the same instant."
        ),
    )
    max_attempts: int | None = Field(
        None,
        ge=1,
        description=(
            "Reconnects in a row that may fail before the camera is marked failed; "
            "None = retry forever."
        ),
    )

    @model_validator(mode="after")
    def _bounds(self) -> ReconnectConfig:
        if self.max_s < self.initial_s:
            raise ValueError(
                f"reconnect.max_s ({self.max_s}) is smaller than reconnect.initial_s "
                f"({self.initial_s}); use max_s >= initial_s"
            )
        return self


class CameraDefaults(StrictModel):
    """Everything about a camera except its identity; the shape of ``cameras.defaults``."""

    fps: float | None = Field(
        None,
        gt=0,
        le=240,
        description=(
            "Target frame rate: frames are sampled down to it (never queued); "
            "None = the source's own rate."
        ),
    )
    loop: bool = Field(False, description="Replay a file or folder forever (demos).")
    realtime: bool = Field(
        True,
        description=(
            "Pace file, folder and synthetic playback at the source rate; "
            "false = as fast as the pipeline takes frames (benchmarks)."
        ),
    )
    source_fps: float = Field(
        10.0,
        gt=0,
        le=240,
        description="Frame rate of frame folders, synthetic scenes and videos that lack one.",
    )
    enabled: bool = Field(True, description="A disabled camera is kept in the file but not run.")
    resize: tuple[int, int] | None = Field(
        None,
        description=(
            "(width, height) to downscale to at capture, keeping wire messages small; "
            "None = native size."
        ),
    )
    color: bool = Field(False, description="Send BGR colour frames (3x the bytes); false = gray.")
    timeout_s: float = Field(
        10.0, gt=0, le=300, description="Open and read timeout of network streams, seconds."
    )
    rtsp_transport: Literal["auto", "tcp", "udp"] = Field(
        "auto",
        description="RTP transport of rtsp:// cameras: 'tcp' (interleaved on the RTSP "
        "connection: through NAT and firewalls, no packet loss), 'udp' (what many cameras "
        "and NVRs speak by default), or 'auto': TCP, then UDP, logging which one worked.",
    )
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)
    max_gap_intervals: float | None = Field(
        3.0,
        ge=1,
        description=(
            "A capture break: consecutive kept frames more than this many frame intervals "
            "apart (at the sampled rate: fps, or the source's own rate if lower or fps is "
            "None) start a new segment; no window spans a break, and the camera cannot open "
            "an incident until alerts.warmup_frames into the new segment. Catches stalls, "
            "runs of dropped frames and capture-time jumps; None = off. Reconnects and "
            "looped files' wraps are always breaks."
        ),
    )
    cut_level: float | None = Field(
        2.5,
        gt=0,
        description=(
            "A picture break: the mean absolute difference (gray levels, 0-255) between "
            "thumbnails (4x4 pixel means) of consecutive kept frames above which the footage is "
            "taken to have jumped (a remote stream looping or seeking), a new segment like "
            "any break. Live streams only (files and folders flag their own loops). UCSD "
            "Ped2 at 10 fps: 0.4-1.9 between consecutive frames, 3.2-8.9 across a clip's "
            "wrap. None = off."
        ),
    )

    @field_validator("resize")
    @classmethod
    def _resize_sane(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not all(8 <= side <= 8192 for side in v):
            raise ValueError(f"resize must be (width, height) with sides in 8..8192, got {v}")
        return v


class CameraConfig(CameraDefaults):
    """One camera: an id, a source and (after merging) its effective settings."""

    id: str = Field(
        description="Unique name; the Kafka message key and part of the Redis threshold key."
    )
    source: str = Field(
        description=(
            "A video file or frame folder path, an rtsp:// or http(s):// URL, a device index "
            "('0' or 'device:0'), or 'synthetic' / 'synthetic:SEED'."
        )
    )

    @field_validator("id")
    @classmethod
    def _id_charset(cls, v: str) -> str:
        if not is_camera_id(v):
            raise ValueError(
                f"camera id must be {CAMERA_ID_RULE} "
                f"(it keys Kafka messages and Redis entries), got {v!r}"
            )
        return v

    @field_validator("source")
    @classmethod
    def _source_parses(cls, v: str) -> str:
        parse_source(v)
        return v.strip()

    @property
    def spec(self) -> SourceSpec:
        return parse_source(self.source)


def _own_values(item: Any) -> Any:
    """The values a defaults or camera entry sets itself (a model counts only set fields)."""
    if isinstance(item, BaseModel):
        return item.model_dump(exclude_unset=True)
    return item


def _merge(base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class CamerasConfig(StrictModel):
    """Global camera defaults and the cameras one ingest process serves."""

    defaults: CameraDefaults = Field(
        default_factory=CameraDefaults,
        description="Values every camera starts from; a camera's own values win.",
    )
    cameras: list[CameraConfig] = Field(default_factory=list, description="The cameras.")
    codec: Literal["auto", "raw", "jpeg"] = Field(
        "auto",
        description="How ingest encodes a window's frames on the wire: raw (lossless, the "
        "most bytes, the least CPU), jpeg (about 5-10x fewer bytes, lossy, CPU to encode "
        "and decode), or auto: raw until a window is over worker.max_message_bytes, then "
        "JPEG for that camera. `streamproc bench cost` measures both.",
    )
    jpeg_quality: int = Field(90, ge=1, le=100, description="JPEG quality of jpeg/auto windows.")
    wire_version: Literal[1, 2] = Field(
        2,
        description="Frames-topic wire format ingest writes. 2: each frame is sent once (a "
        "message carries only the frames its camera's previous one did not; the workers "
        "keep the rest), about 2.2x fewer bytes with windows of 8 and stride 4. 1: every "
        "message a whole window, for workers older than wire version 2. Workers read both: "
        "upgrade them before the ingest.",
    )
    resume: bool = Field(
        True,
        description="A restarted ingest continues each finite camera (a file or frame folder "
        "that is not looped) after the last window the broker acknowledged, in the same "
        "session, instead of replaying it; the position is kept in the state store. Only "
        "with a durable transport (kafka): the embedded broker's windows die with the "
        "process, so it always starts afresh. `streamproc ingest --from-start` ignores "
        "stored positions once.",
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("cameras"):
            return data
        defaults = _own_values(data.get("defaults")) or {}
        if not isinstance(defaults, dict) or not isinstance(data["cameras"], list):
            return data  # let field validation report the wrong type
        cameras = [
            _merge(defaults, own) if isinstance(own := _own_values(c), dict) else own
            for c in data["cameras"]
        ]
        # An assignment (validate_assignment) keeps what this returns without validating
        # it again: cameras that came as models go back as models, not dicts.
        cameras = [
            CameraConfig.model_validate(m) if isinstance(c, BaseModel) else m
            for c, m in zip(data["cameras"], cameras, strict=True)
        ]
        return {**data, "cameras": cameras}

    @model_validator(mode="after")
    def _unique_ids(self) -> CamerasConfig:
        first: dict[str, int] = {}
        for i, cam in enumerate(self.cameras):
            if cam.id in first:
                raise ValueError(
                    f"camera id {cam.id!r} is used by cameras[{first[cam.id]}] and cameras[{i}]; "
                    "ids must be unique (they key Kafka messages and Redis thresholds)"
                )
            first[cam.id] = i
        return self

    def enabled(self) -> list[CameraConfig]:
        return [c for c in self.cameras if c.enabled]
