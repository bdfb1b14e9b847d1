"""Per-camera thresholds and the state store behind them (the stage after the model).

``make_store`` opens the backend a ``StateConfig`` names; both backends implement the
``StateStore`` protocol of ``base``: ``redis`` (shared by every worker) and ``embedded``
(a SQLite file on one machine).
"""

from __future__ import annotations

from typing import assert_never

from streamproc.config.state import EmbeddedStateConfig, RedisStateConfig, StateConfig
from streamproc.threshold.base import (
    CameraSettings,
    CameraState,
    IngestPosition,
    OpenAlert,
    RunningStats,
    StateStore,
)
from streamproc.threshold.embedded import EmbeddedStateStore
from streamproc.threshold.errors import CorruptStateError, StateStoreError, StateUnavailableError
from streamproc.threshold.redis import RedisStateStore

__all__ = [
    "CameraSettings",
    "CameraState",
    "CorruptStateError",
    "EmbeddedStateStore",
    "IngestPosition",
    "OpenAlert",
    "RedisStateStore",
    "RunningStats",
    "StateStore",
    "StateStoreError",
    "StateUnavailableError",
    "make_store",
]


def make_store(cfg: StateConfig) -> StateStore:
    """Open the store ``cfg`` describes (for redis: connects, retrying until its deadline)."""
    match cfg:
        case RedisStateConfig():
            return RedisStateStore(cfg)
        case EmbeddedStateConfig():
            return EmbeddedStateStore(cfg)
        case _:
            assert_never(cfg)
