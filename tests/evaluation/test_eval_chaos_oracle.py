"""The chaos oracle's timing helpers without services: the longest pause in scoring
after a fault (the Serve scenarios' recovery time) and the capture-to-score latency of
the frames scored in a span."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from streamproc.evaluation.chaos.harness import Seen
from streamproc.evaluation.chaos.oracle import latency_between, longest_pause


def run_with(first_at: dict[tuple[str, int], float], latency: dict[tuple[str, int], float]) -> Any:
    seen = Seen(first_at=first_at, latency=latency)
    return SimpleNamespace(_lock=threading.Lock(), seen=seen)


def test_longest_pause_starts_at_the_fault_or_a_score() -> None:
    at = {("c", i): t for i, t in enumerate([1.0, 2.0, 3.0, 10.0, 11.0, 30.0, 31.0])}
    run = run_with(at, {})
    assert longest_pause(run, 0.0) == (11.0, 19.0)  # 11 -> 30
    assert longest_pause(run, 25.0) == (25.0, 5.0)  # from the fault to the first score
    assert longest_pause(run, 40.0) == (40.0, 0.0)  # nothing scored since


def test_latency_between_takes_the_frames_first_scored_in_the_span() -> None:
    at = {("c", i): float(i) for i in range(10)}
    lat = {("c", i): 0.1 * i for i in range(10)}
    run = run_with(at, lat)
    p50, worst = latency_between(run, 4.0, 8.0)  # frames 4..8
    assert (round(p50, 3), round(worst, 3)) == (0.6, 0.8)
    assert latency_between(run, 20.0, 30.0) is None
