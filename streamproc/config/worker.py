"""Stream worker and ingest process settings."""

from __future__ import annotations

from pydantic import Field

from streamproc.config.base import StrictModel


class WorkerConfig(StrictModel):
    group: str = Field("streamproc-workers", description="Consumer group of the stream workers.")
    workers: int = Field(1, ge=1, description="Worker threads `streamproc run` starts in-process.")
    max_poll_records: int = Field(32, ge=1, description="Windows taken per poll (one batch).")
    max_in_flight: int = Field(
        3,
        ge=1,
        le=64,
        description="Batches submitted to the model and not yet finished, per worker: at "
        "least the model's replicas + 1, so no replica waits while the worker polls, "
        "applies, publishes and commits. Each holds up to max_poll_records windows in memory.",
    )
    poll_timeout_s: float = Field(0.5, gt=0, description="Longest wait for new windows.")
    retry_deadline_s: float = Field(
        120,
        gt=0,
        description="A batch still failing (the model, or an unknown error) this long after "
        "its first failure is split: each window is tried alone, and one that still fails "
        "is dead-lettered (reason retries-exhausted) instead of stalling its partition. An "
        "outage of the broker or the state store does not count: it is retried until it ends.",
    )
    max_attempts: int = Field(
        5,
        ge=1,
        description="Or after this many failed attempts, whichever comes first; the backoff "
        "between attempts doubles from 0.5 s up to 30 s.",
    )
    stall_timeout_s: float = Field(
        300,
        gt=0,
        description="/healthz fails when a worker holding polled records committed nothing "
        "for this long (or its loop died), so Kubernetes restarts a stuck worker.",
    )
    frame_memory_mb: int = Field(
        1024,
        ge=16,
        description="Most pixels a worker keeps so that wire-version-2 messages (each frame "
        "sent once) become whole windows: a window's worth per camera it reads (a gray "
        "360x240 camera with windows of 8: 0.7 MB). Past it the least recently seen "
        "cameras are forgotten and their next partial windows dead-lettered (incomplete).",
    )
    max_message_bytes: int = Field(
        1_000_000,
        ge=10_000,
        description="Largest frames-topic message; windows above it are JPEG-encoded.",
    )


class MetricsConfig(StrictModel):
    port: int | None = Field(
        9464,
        ge=1,
        le=65535,
        description="Port of /metrics (Prometheus), /healthz and /readyz of a process that "
        "runs stream workers (`streamproc worker`, `streamproc run`); None disables it.",
    )
    ingest_port: int | None = Field(
        9465,
        ge=1,
        le=65535,
        description="The same for a process that only ingests (`streamproc ingest`): apart "
        "from `port` so that an ingest and a worker on one host need no second config. "
        "None disables it. (The Helm chart sets both to metrics.port: one process a pod.)",
    )
