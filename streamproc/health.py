"""Liveness and readiness of a streamproc process, judged from progress.

A worker is *live* while its loop runs and, when records wait (polled, not committed),
it committed something within ``stall_timeout_s``: a worker stuck on one batch, or
whose loop died, is restarted by Kubernetes instead of sitting on its partitions. Time
while the broker or the state store is unreachable (``dependencies.py``) does not count
as a stall: a restart would not bring them back, and the worker resumes by itself. The
process is *ready* once the model and the state store answered at start, and while no
dependency is unreachable. Served as ``/healthz`` and ``/readyz`` beside ``/metrics``
(``metrics.serve_metrics``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from streamproc.dependencies import DEPENDENCIES, Dependencies


class Progressing(Protocol):
    @property
    def holding(self) -> bool: ...

    def progress_age(self) -> float: ...


@dataclass
class Health:
    stall_timeout_s: float = 300.0
    ready: bool = False
    dependencies: Dependencies = DEPENDENCIES
    _watched: list[tuple[Progressing, threading.Thread]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self, worker: Progressing, thread: threading.Thread) -> None:
        with self._lock:
            self._watched.append((worker, thread))

    def forget(self) -> None:
        with self._lock:
            self._watched.clear()
            self.ready = False

    def progress_age(self) -> float:
        """Age of the oldest worker's last progress; 0 when every worker is idle with
        nothing to consume (or there is none)."""
        with self._lock:
            watched = list(self._watched)
        return max((w.progress_age() for w, _ in watched), default=0.0)

    def live(self) -> tuple[bool, str]:
        with self._lock:
            watched = list(self._watched)
        for w, thread in watched:
            if not thread.is_alive():
                return False, f"worker loop {thread.name} is not running"
            # Stalled only for as long as every dependency answered.
            age = min(w.progress_age(), self.dependencies.reachable_for())
            if w.holding and age > self.stall_timeout_s:
                return False, (
                    f"worker {thread.name} made no progress for {age:.0f} s while records "
                    f"wait (worker.stall_timeout_s = {self.stall_timeout_s:g})"
                )
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        if not self.ready:
            return False, "starting: model or store not answered"
        down = self.dependencies.unreachable()
        if down:
            return False, "; ".join(
                f"{s} unreachable for {self.dependencies.unreachable_s(s):.0f} s ({why})"
                for s, why in sorted(down.items())
            )
        return True, "ok"


HEALTH = Health()
