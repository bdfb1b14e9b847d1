"""A warning that a fault would repeat on every record, said at most once in a while.

``Every(30.0).due(key)`` is True the first time for ``key`` and then at most once per 30
seconds (monotonic clock); one ``Every`` per kind of warning, ``key`` per camera where
each camera's fault deserves its own line. A race between threads can let one extra
line through, never lose one.
"""

from __future__ import annotations

import time
from collections.abc import Hashable


class Every:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._last: dict[Hashable, float] = {}

    def due(self, key: Hashable = None) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.seconds:
            return False
        self._last[key] = now
        return True
