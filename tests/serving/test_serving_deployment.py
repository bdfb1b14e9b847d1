"""The Serve deployment's class without a Ray cluster: the scoring work runs on the
replica's own threads, never on its event loop, and at most ``concurrent_batches`` model
batches at once (by default all of a call's)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamproc.serving.deployment import AnomalyScorer
from streamproc.serving.scorer import ScoreRequest, ScoreResult


@pytest.mark.parametrize("concurrent", [None, 1])
def test_scoring_runs_off_the_event_loop(tiny_artifact: Path, concurrent: int | None) -> None:
    cls: Any = AnomalyScorer.func_or_class  # the class Serve would run
    replica = cls(str(tiny_artifact), "cpu", 4, 0.001, 1, concurrent_batches=concurrent)
    ran: list[tuple[int, float, float]] = []  # (thread, start, end) of each model call
    real = replica.service.score

    def slow(requests: list[ScoreRequest]) -> list[ScoreResult]:
        t0 = time.perf_counter()
        time.sleep(0.3)  # CPU work stand-in: holds its thread, not the loop
        out = real(requests)
        ran.append((threading.get_ident(), t0, time.perf_counter()))
        return out

    replica.service.score = slow
    frames = np.random.default_rng(0).integers(0, 255, (4, 48, 64), np.uint8)
    reqs = [ScoreRequest(f"c{i}", 0, frames) for i in range(6)]

    async def main() -> tuple[list[list[ScoreResult]], int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        # @serve.batch needs a replica context; the batched body itself is what runs.
        out = await cls.score_many.__wrapped__(replica, [reqs])
        ticker.cancel()
        return out, ticks

    (results,), ticks = asyncio.run(main())
    assert [r.camera for r in results] == [r.camera for r in reqs]
    assert all(r.error is None and len(r.scores) == 4 for r in results)
    assert len(ran) == 2  # 6 windows in model batches of 4: two calls
    assert threading.get_ident() not in {t for t, _, _ in ran}
    assert ticks >= 10  # the loop kept running while the batches were scored
    (_, _, e1), (_, s2, _) = sorted(ran, key=lambda r: r[1])
    if concurrent == 1:  # one call at a time, the next after it
        assert s2 >= e1
    else:  # the default: a call's model batches at once
        assert s2 < e1
