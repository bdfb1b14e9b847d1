"""What a decoded window must satisfy before the model sees it.

The wire format admits any window shape; the model was trained on windows of one length.
A window of another length fails the whole scoring call (``np.stack`` of the batch), and
timestamps out of order or far in the future would be written into the camera's state as
its clock. Checked per window in the worker, so a violation dead-letters that window
(reason ``contract``) and the rest of the batch is scored.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from streamproc.errors import StreamprocError
from streamproc.transport.wire import WireWindow

MAX_FUTURE_S = 86_400.0  # capture clocks may drift; a day ahead is a broken clock


class ContractError(StreamprocError):
    """A decoded window is not one the model and the state can take."""


def check_window(w: WireWindow, length: int | None, now: float) -> None:
    """Raise ContractError saying what is wrong with ``w`` (``length`` None: any)."""
    t = len(w.frames)
    if length is not None and t != length:
        raise ContractError(
            f"camera {w.camera} window {w.seq}: {t} frames, the model takes {length}; "
            "set the ingest's window length to the artifact's data.window.length"
        )
    frame = w.frames.shape[1:]
    if w.frames.dtype != np.uint8 or not (len(frame) == 2 or frame[2:] == (3,)):
        raise ContractError(
            f"camera {w.camera} window {w.seq}: frames must be uint8 gray (H, W) or BGR "
            f"(H, W, 3), got {w.frames.dtype} {frame}"
        )
    if w.context is not None and w.context.shape != frame:
        raise ContractError(f"camera {w.camera} window {w.seq}: context frame size differs")
    stamps = w.timestamps
    if len(stamps) != t or not all(math.isfinite(s) for s in stamps):
        raise ContractError(f"camera {w.camera} window {w.seq}: one finite timestamp per frame")
    if any(b < a for a, b in itertools.pairwise(stamps)):
        raise ContractError(f"camera {w.camera} window {w.seq}: timestamps go backwards")
    if stamps and stamps[-1] > now + MAX_FUTURE_S:
        raise ContractError(
            f"camera {w.camera} window {w.seq}: timestamp {stamps[-1]:.0f} is more than a day "
            "ahead of this worker's clock; check the camera's (or the ingest's) clock"
        )
