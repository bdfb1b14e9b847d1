"""A repeated warning is said the first time and then at most once per period, per key."""

from __future__ import annotations

import pytest

from streamproc import ratelimit
from streamproc.ratelimit import Every


def test_once_per_period_and_per_key(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    every = Every(10.0)
    assert every.due("a")  # the first time: said
    assert not every.due("a")
    assert every.due("b")  # another camera's fault has its own line
    now[0] = 109.9
    assert not every.due("a")
    now[0] = 110.0
    assert every.due("a") and not every.due("a")
    assert Every(10.0).due()  # no key: one line for the whole kind
