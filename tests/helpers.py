"""Small configs that keep unit tests fast."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streamproc.config import StreamprocConfig, apply_overrides
from streamproc.runtime.assembly import FrameMemory
from streamproc.transport.base import Record
from streamproc.transport.wire import WireWindow, decode_message

TINY: dict[str, Any] = {
    "data.preprocess.height": 32,
    "data.preprocess.width": 48,
    "data.window.length": 4,
    "data.window.stride": 2,
    "model.predict_frames": 2,
    "model.base_channels": 8,
    "model.latent_channels": 4,
    "model.attention_heads": 2,
    "training.epochs": 2,
    "training.batch_size": 8,
    "training.threads": 2,
    "scoring.patch": 8,
    "smoothing.window": 3,
    "smoothing.persistence_k": 2,
    "smoothing.persistence_n": 3,
}


def tiny_config(**extra: Any) -> StreamprocConfig:
    return apply_overrides(
        StreamprocConfig(), {**TINY, **{k.replace("__", "."): v for k, v in extra.items()}}
    )


def read_windows(values: Iterable[bytes]) -> list[WireWindow]:
    """The whole windows of frames-topic messages in the order sent (wire version 1 or 2),
    built as a worker builds them."""
    memory = FrameMemory()
    out = []
    for offset, value in enumerate(values):
        record = Record("frames", 0, offset, None, value, 0)
        out.append(memory.build(decode_message(value), record).window)
    return out
