"""k-of-n persistence: a frame only counts as anomalous once the anomaly has persisted.

A single noisy frame above the threshold should not page anyone (seed paper 002: an
anomaly must persist before it alerts), so the decision is "at least k of the last n
frames were above". Same spec/logic/snapshot shape as the smoothers in ``rolling``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from streamproc.errors import ConfigError
from streamproc.smoothing.rolling import State, state_value


class KOfNLogic:
    """The last ``n`` above/below flags; the snapshot is those flags, oldest first."""

    def __init__(self, k: int, n: int, state: State | None) -> None:
        self._k = k
        recent = [] if state is None else state_value(state, "recent", "KOfN")
        self._recent: deque[bool] = deque((bool(v) for v in recent), maxlen=n)

    def update(self, hit: bool) -> bool:
        """Record this frame's flag; True when at least k of the last n flags are True."""
        self._recent.append(bool(hit))
        # While fewer than n frames have been seen, k hits among them are still required.
        return sum(self._recent) >= self._k

    def snapshot(self) -> State:
        return {"recent": list(self._recent)}


@dataclass(frozen=True)
class KOfN:
    """At least ``k`` of the last ``n`` inputs must be True (1 <= k <= n)."""

    k: int
    n: int

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise ConfigError(
                f"k-of-n persistence needs 1 <= k <= n, got k={self.k}, n={self.n}; "
                "lower persistence_k or raise persistence_n"
            )

    def build(self, state: State | None = None) -> KOfNLogic:
        return KOfNLogic(self.k, self.n, state)
