"""k-of-n persistence: counts over the last n flags, validation, snapshot/restore."""

from __future__ import annotations

import json

import pytest

from streamproc.errors import ConfigError
from streamproc.smoothing import KOfN

T, F = True, False


def run(k: int, n: int, flags: list[bool]) -> list[bool]:
    logic = KOfN(k, n).build()
    return [logic.update(f) for f in flags]


def test_two_of_three() -> None:
    assert run(2, 3, [T, F, F, T, F, T, T]) == [F, F, F, F, F, T, T]


def test_three_of_three_needs_an_unbroken_run() -> None:
    assert run(3, 3, [T, T, F, T, T, T, F]) == [F, F, F, F, F, T, F]


def test_one_of_one_passes_flags_through() -> None:
    flags = [T, F, T, T, F]
    assert run(1, 1, flags) == flags


def test_single_spike_never_alerts_when_k_above_one() -> None:
    assert not any(run(4, 6, [F, F, T, F, F, F, F, T, F, F]))


@pytest.mark.parametrize(("k", "n"), [(0, 3), (4, 3), (-1, 2)])
def test_invalid_k_n(k: int, n: int) -> None:
    with pytest.raises(ConfigError, match="1 <= k <= n"):
        KOfN(k, n)


def test_restore_continues_the_count() -> None:
    first = KOfN(3, 5).build()
    for f in [T, T, F]:
        first.update(f)
    restored = KOfN(3, 5).build(json.loads(json.dumps(first.snapshot())))
    assert restored.update(T) is True  # T, T, F, T: three of the last four
    fresh = KOfN(3, 5).build()
    assert fresh.update(T) is False
