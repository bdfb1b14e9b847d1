"""Which services this process depends on (the Kafka broker, the redis state store) do not
answer right now, and since when.

The clients report here: ``failed`` when a call failed because the service did not answer
(not because of a message or a value), ``answered`` on their next success. A service is
unreachable while any of its clients last reported a failure. ``/readyz`` is false while
one is (``health.py``), and a worker waiting for one is not counted as stalled, since
restarting the process does not bring a broker back. The gauge
``streamproc_dependency_unreachable_seconds`` shows each one's current outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("streamproc.dependencies")

KNOWN = ("kafka", "redis")  # the gauge's label values (always exported, 0 when up)


class Dependencies:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # service -> client -> (monotonic time of its first failure in a row, why)
        self._down: dict[str, dict[object, tuple[float, str]]] = {}
        self._recovered_at: float | None = None  # the last time no service was down

    def failed(self, service: str, client: object, why: str) -> None:
        """``client`` (any hashable that names it) could not reach ``service``."""
        now = self._clock()
        with self._lock:
            clients = self._down.setdefault(service, {})
            first = not clients
            since = clients[client][0] if client in clients else now
            clients[client] = (since, why)
        if first:
            log.warning("%s is unreachable (%s); retrying until it answers", service, why)

    def answered(self, service: str, client: object) -> None:
        """``client`` reached ``service`` again (or never failed: then this is cheap)."""
        self._clear(service, client, recovered=True)

    def _clear(self, service: str, client: object, recovered: bool) -> None:
        with self._lock:
            clients = self._down.get(service)
            if not clients or client not in clients:
                return
            since, _ = clients.pop(client)
            back = not clients
            if back:
                del self._down[service]
                if not self._down and recovered:
                    self._recovered_at = self._clock()
        if back and recovered:
            log.warning("%s answers again after %.1f s", service, self._clock() - since)

    def forget(self, client: object) -> None:
        """A closed client's last report no longer counts (it says nothing of the service
        being back)."""
        for service in list(self._down):
            self._clear(service, client, recovered=False)

    def unreachable_s(self, service: str) -> float:
        """How long ``service`` has been unreachable; 0 while it answers."""
        with self._lock:
            clients = self._down.get(service)
            if not clients:
                return 0.0
            return max(0.0, self._clock() - min(since for since, _ in clients.values()))

    def unreachable(self) -> dict[str, str]:
        """Unreachable services and why (one client's last error)."""
        with self._lock:
            return {s: next(iter(c.values()))[1] for s, c in self._down.items() if c}

    def reachable_for(self) -> float:
        """Seconds since the last outage of any service ended: 0 during one, infinite if
        there was none."""
        with self._lock:
            if self._down:
                return 0.0
            at = self._recovered_at
        return float("inf") if at is None else self._clock() - at


DEPENDENCIES = Dependencies()
