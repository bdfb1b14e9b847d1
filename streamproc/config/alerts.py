"""Alert lifecycle settings."""

from __future__ import annotations

from pydantic import Field

from streamproc.config.base import StrictModel


class AlertsConfig(StrictModel):
    cooldown_frames: int = Field(
        20,
        ge=0,
        description="An incident ends only after this many frames without an active decision; "
        "a re-activation within it continues the same event (one incident = one event).",
    )
    warmup_frames: int = Field(
        8,
        ge=0,
        description="A camera's first frames after a start or a break in capture (a "
        "reconnect, a looped file's wrap, a gap, a cut: a new segment) are scored and "
        "published but cannot open, extend or end an incident, nor move the camera's normal "
        "level; smoothing restarts after them. Warm means every frame the smoothing sees was "
        "scored by a window wholly inside the segment with its motion context there too: "
        "the segment's first window (data.window.length frames, 8) is the start transient, "
        "so keep this >= the window length.",
    )
    update_every_frames: int = Field(
        50, ge=1, description="Publish an 'update' message this often while an incident lasts."
    )
    max_incident_frames: int = Field(
        3000,
        ge=1,
        description="An incident still open after this many frames (3000 = 5 min at 10 fps) "
        "ends with reason 'max-duration' and the camera re-baselines: its normal level "
        "restarts from the current one, so a lasting change of the scene is learned.",
    )
    camera_timeout_s: float = Field(
        300.0,
        gt=0,
        description="An open incident of a camera that sent no window for this long ends with "
        "reason 'camera-gone' (checked by each worker every few seconds, not every poll).",
    )
    heatmaps: bool = Field(
        True, description="Attach a small heatmap thumbnail to 'start' messages."
    )
    log: bool = Field(True, description="Also print alert messages to the console/log.")
