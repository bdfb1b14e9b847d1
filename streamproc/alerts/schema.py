"""The alert event: what downstream apps read from the alert topic.

One incident of one camera is one event id; its lifecycle is a ``start`` message, zero
or more ``update`` messages, and an ``end`` message, all with the same ``event_id``.
The id is stable across redelivery (camera, capture stream, first frame sequence, model
version), so a consumer that sees the same (event_id, kind, seq) twice can drop the copy,
and two incidents cannot share an id after an ingest restart (sequence numbers restart
at 0 with a new stream id).
Exported as JSON Schema by ``streamproc alerts schema``.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# 2: `reason` on end messages; the stream is part of event_id.
# 3: end reason 'shutdown' (a consumer validating against the v2 schema's enum rejects it).
SCHEMA_VERSION = 3

EndReason = Literal["quiet", "max-duration", "stream-restart", "camera-gone", "shutdown"]


def event_id(camera: str, stream: str, first_seq: int, model_version: str) -> str:
    """Deterministic id of an incident: the same inputs give the same id after a replay."""
    raw = f"{camera}\x00{stream}\x00{first_seq}\x00{model_version}".encode()
    return hashlib.sha256(raw).hexdigest()[:24]


class AlertEvent(BaseModel):
    """One lifecycle message of an anomaly incident on one camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this schema.")
    event_id: str = Field(
        description="Stable id of the incident (camera, stream, first seq, model version)."
    )
    kind: Literal["start", "update", "end"] = Field(description="Lifecycle stage of this message.")
    seq: int = Field(ge=0, description="Frame sequence number this message was decided at.")
    camera: str = Field(description="Camera id, as keyed on the frames topic.")
    start_seq: int = Field(ge=0, description="First frame sequence number of the incident.")
    start_time: float = Field(
        description="Capture time (unix seconds) of the first anomalous frame."
    )
    end_time: float | None = Field(
        None, description="Capture time of the last anomalous frame (end only)."
    )
    end_seq: int | None = Field(
        None, description="Sequence number of the last anomalous frame (end only)."
    )
    reason: EndReason | None = Field(
        None,
        description="Why the incident ended (end only): 'quiet' (cooldown frames without an "
        "active decision), 'max-duration' (alerts.max_incident_frames; the camera "
        "re-baselines), 'stream-restart' (the camera's capture restarted), 'camera-gone' "
        "(no window for alerts.camera_timeout_s), 'shutdown' (the worker or `streamproc run` "
        "was stopped cleanly; a crash never ends an incident, recovery resumes it).",
    )
    peak_score: float = Field(description="Highest smoothed score so far in the incident.")
    current_score: float = Field(description="Smoothed score at this message.")
    threshold: float = Field(description="Threshold in force when this message was decided.")
    model_version: str = Field(description="Version id of the model artifact that scored it.")
    heatmap_png_b64: str | None = Field(
        None, description="Optional small PNG thumbnail of the error heatmap, base64."
    )


class ScoreEvent(BaseModel):
    """One frame's score and decision, on the scores topic (``topics.publish_scores``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera: str = Field(description="Camera id.")
    seq: int = Field(ge=0, description="Frame sequence number.")
    time: float = Field(description="Capture time, unix seconds.")
    score: float = Field(description="Raw frame score from the model.")
    smoothed: float = Field(description="Score after the causal smoother.")
    normalized: float = Field(
        description="The smoothed score as a z-score against the camera's own normal level "
        "(comparable across cameras; an alert needs normalized >= k)."
    )
    threshold: float = Field(description="Threshold in force for this frame (smoothed scale).")
    active: bool = Field(description="An incident is open at this frame.")
    model_version: str = Field(description="Version id of the artifact that scored it.")
    segment: int = Field(
        0,
        ge=0,
        description="Capture segment of the frame within its stream: it changes at a break "
        "in capture (a reconnect, a loop, a gap, a cut), where smoothing restarts; a "
        "segment's first alerts.warmup_frames frames decide nothing.",
    )
