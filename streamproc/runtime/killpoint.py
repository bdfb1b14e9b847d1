"""Fault injection for the chaos suite (`streamproc bench chaos`): a worker started with
``STREAMPROC_CHAOS_KILL_AT=POINT:N`` SIGKILLs itself the Nth time it reaches POINT, one of
``KILL_POINTS`` (the steps of a batch in ``runtime/worker.py``).

Read once at import: unset, ``reached`` is a no-op function and costs one call."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

from streamproc.errors import ConfigError

ENV = "STREAMPROC_CHAOS_KILL_AT"
KILL_POINTS = ("poll", "apply", "publish", "flush", "commit")


def parse(spec: str) -> tuple[str, int]:
    """'apply:3' -> ('apply', 3); anything else is a ConfigError naming the valid points."""
    point, _, n = spec.partition(":")
    if point not in KILL_POINTS or not n.isdigit() or int(n) < 1:
        raise ConfigError(
            f"{ENV} must be POINT:N with POINT one of {', '.join(KILL_POINTS)} and N >= 1, "
            f"got {spec!r}"
        )
    return point, int(n)


def _noop(point: str) -> None:
    pass


def _armed(target: str, n: int) -> Callable[[str], None]:
    seen = 0

    def reached(point: str) -> None:
        nonlocal seen
        if point == target:
            seen += 1
            if seen == n:
                os.kill(os.getpid(), signal.SIGKILL)

    return reached


_spec = os.environ.get(ENV)
reached: Callable[[str], None] = _armed(*parse(_spec)) if _spec else _noop
