"""The Serve deployment's class without a Ray cluster: the scoring work runs in worker
threads, never on the replica's event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from streamproc.serving.deployment import AnomalyScorer
from streamproc.serving.scorer import ScoreRequest, ScoreResult


def test_scoring_runs_off_the_event_loop(tiny_artifact: Path) -> None:
    cls: Any = AnomalyScorer.func_or_class  # the class Serve would run
    replica = cls(str(tiny_artifact), "cpu", 4, 0.001, 1)
    ran_on: list[int] = []
    real = replica.service.score

    def slow(requests: list[ScoreRequest]) -> list[ScoreResult]:
        ran_on.append(threading.get_ident())
        time.sleep(0.3)  # CPU work stand-in: holds its thread, not the loop
        return real(requests)

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
    assert len(ran_on) == 2  # 6 windows in model batches of 4: two calls, overlapping
    assert threading.get_ident() not in ran_on
    assert ticks >= 10  # the loop kept running while the batches were scored
