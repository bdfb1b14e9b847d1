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
    update_every_frames: int = Field(
        50, ge=1, description="Publish an 'update' message this often while an incident lasts."
    )
    heatmaps: bool = Field(
        True, description="Attach a small heatmap thumbnail to 'start' messages."
    )
    log: bool = Field(True, description="Also print alert messages to the console/log.")
