"""Fault injection for the chaos suite (`streamproc bench chaos`): a Serve replica started
with ``STREAMPROC_CHAOS_HANG_AT=N:S`` hangs for S seconds at the Nth HTTP request it
receives (counted per replica process, so a replacement replica counts from 1 again).

The hang blocks the replica's request loop (``time.sleep``, not ``asyncio.sleep``): the
replica answers nothing meanwhile, as a replica stuck in a native call would not, so a
worker's request times out (``serving.request_timeout_s``), is cancelled and retried.

Read once at import: unset, ``reached`` is a no-op function and costs one call."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from streamproc.errors import ConfigError

ENV = "STREAMPROC_CHAOS_HANG_AT"


def parse(spec: str) -> tuple[int, float]:
    """'3:20' -> (3, 20.0); anything else is a ConfigError saying what is expected."""
    n, _, seconds = spec.partition(":")
    try:
        nth, hang_s = int(n), float(seconds)
    except ValueError:
        nth, hang_s = 0, 0.0
    if nth < 1 or not 0 < hang_s <= 3600:
        raise ConfigError(
            f"{ENV} must be N:S (hang S seconds, 0 < S <= 3600, at the Nth request, N >= 1), "
            f"got {spec!r}"
        )
    return nth, hang_s


def _noop() -> None:
    pass


def _armed(
    nth: int, hang_s: float, sleep: Callable[[float], None] = time.sleep
) -> Callable[[], None]:
    seen = 0

    def reached() -> None:
        nonlocal seen
        seen += 1
        if seen == nth:
            sleep(hang_s)

    return reached


_spec = os.environ.get(ENV)
reached: Callable[[], None] = _armed(*parse(_spec)) if _spec else _noop
