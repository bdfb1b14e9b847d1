"""The Serve client without a cluster: a timed-out request is cancelled before the
timeout is raised (the worker retries it; the replica must not score it twice), and the
timeout comes from ``serving.request_timeout_s``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from streamproc.config import StreamprocConfig
from streamproc.serving.affinity import shard_of
from streamproc.serving.client import ServeScorer
from streamproc.serving.scorer import ScoreRequest


class SlowResponse:
    def __init__(self) -> None:
        self.cancelled = False
        self.waited: float | None = None

    def result(self, timeout_s: float) -> list[Any]:
        self.waited = timeout_s
        raise TimeoutError(f"no result within {timeout_s} s")

    def cancel(self) -> None:
        self.cancelled = True


class Method:
    def __init__(self, response: SlowResponse) -> None:
        self.response = response

    def remote(self, *args: Any) -> SlowResponse:
        return self.response


class Handle:
    """A DeploymentHandle stand-in: ``options`` records the shard it routes by."""

    def __init__(self, response: SlowResponse) -> None:
        self.score_many = self.score_shard = Method(response)
        self.routed: list[str] = []

    def options(self, multiplexed_model_id: str) -> Handle:
        self.routed.append(multiplexed_model_id)
        return self


@pytest.mark.parametrize("shards", [0, 4])
def test_a_timed_out_request_is_cancelled(shards: int) -> None:
    response = SlowResponse()
    scorer = ServeScorer.__new__(ServeScorer)  # no Ray: the handle is a stand-in
    scorer.handle = handle = Handle(response)
    scorer.shards, scorer._routed = shards, {}
    scorer.timeout_s = StreamprocConfig(
        serving={"request_timeout_s": 7.5}
    ).serving.request_timeout_s
    windows = [ScoreRequest(f"cam{i}", 0, np.zeros((2, 4, 4), np.uint8)) for i in range(6)]
    pending = scorer.submit(windows)
    with pytest.raises(TimeoutError):
        pending.result()
    assert response.cancelled and response.waited == 7.5
    expected = {shard_of(f"cam{i}", shards) for i in range(6)} if shards else set()
    assert set(handle.routed) == expected  # one call per shard, none without shards
