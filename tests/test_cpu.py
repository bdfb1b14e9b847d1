"""Stage CPU accounting: thread CPU time, not wall time, per stage."""

from __future__ import annotations

import threading
import time

from streamproc.cpu import STAGES, stage, stage_totals


def _busy(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_stage_counts_its_threads_cpu_not_its_wall_time() -> None:
    before = stage_totals()
    with stage("encode"):
        _busy(0.05)
    with stage("produce"):
        time.sleep(0.1)  # waiting costs no CPU
    after = stage_totals()
    assert 0.05 <= after["encode"] - before["encode"] < 0.5
    assert after["produce"] - before["produce"] < 0.02
    assert set(after) == set(STAGES)


def test_other_threads_cpu_is_not_counted_in_a_stage() -> None:
    before = stage_totals()["decode"]
    t = threading.Thread(target=_busy, args=(0.1,))
    with stage("decode"):
        t.start()
        t.join()  # the stage's own thread only waits
    assert stage_totals()["decode"] - before < 0.05
