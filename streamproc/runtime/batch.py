"""A batch in the stream worker's hands: the records of one poll and how far each got.

Each record ends applied to its camera's state (``result`` set, no ``failure``),
dead-lettered (``failure`` set, then ``dead_lettered`` once the flush delivered it) or
skipped (a version-2 window re-read without the frames it carries, found already
applied); the batch's offsets are committed only when every record has ended one of
those ways.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from streamproc.runtime.failures import Failure
from streamproc.serving.client import PendingScores
from streamproc.serving.scorer import ScoreResult
from streamproc.threshold.base import CameraSettings
from streamproc.transport.base import Record
from streamproc.transport.wire import WireMessage, WireWindow


@dataclass
class Item:
    """One record of a batch and how far it got."""

    record: Record
    window: WireWindow | None = None
    since: int | None = None  # built with frames of earlier records: the oldest's offset
    partial: WireMessage | None = None  # a window that could not be built; why: ``missing``
    missing: str = ""
    skipped: bool = False
    result: ScoreResult | None = None
    failure: Failure | None = None  # set: dead-lettered, never applied
    dead_lettered: bool = False  # its dead letter was flushed (not sent again on a retry)


@dataclass
class Batch:
    """The records of one poll, from decoding until their offsets are committed."""

    items: list[Item]
    offsets: dict[tuple[str, int], int]  # (topic, partition) -> next offset to commit
    settings: dict[str, CameraSettings] = field(default_factory=dict)
    pending: PendingScores | None = None
    requested: list[Item] = field(default_factory=list)  # what ``pending`` scores, in order
    submitted_at: float = 0.0
    attempts: int = 0  # failed attempts to finish it
    failing_since: float | None = None  # monotonic time of the first failure
    alone: bool = False  # score each window on its own (a batch call failed for one of them)
    exhausted: bool = False  # past the retry deadline: a record failing alone is dead-lettered

    def to_score(self) -> list[Item]:
        return [
            i for i in self.items if i.window is not None and i.failure is None and i.result is None
        ]

    def scored(self) -> list[Item]:
        return [i for i in self.items if i.result is not None and i.failure is None]

    def unsettled(self) -> list[Item]:
        """Windows that could not be built and are neither skipped nor dead-lettered yet."""
        return [i for i in self.items if i.partial and not i.skipped and i.failure is None]

    def done(self) -> bool:
        return all(i.result is not None or i.dead_lettered or i.skipped for i in self.items)
