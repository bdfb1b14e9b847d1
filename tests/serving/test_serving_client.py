"""The Serve client without a cluster: a timed-out request is cancelled before the
timeout is raised (the worker retries it; the replica must not score it twice), and the
timeout comes from ``serving.request_timeout_s``."""

from __future__ import annotations

from typing import Any

import pytest

from streamproc.config import StreamprocConfig
from streamproc.serving.client import ServeScorer


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


def test_a_timed_out_request_is_cancelled() -> None:
    response = SlowResponse()
    scorer = ServeScorer.__new__(ServeScorer)  # no Ray: the handle is a stand-in
    scorer.handle = type("Handle", (), {"score_many": Method(response)})()
    scorer.timeout_s = StreamprocConfig(
        serving={"request_timeout_s": 7.5}
    ).serving.request_timeout_s
    pending = scorer.submit([])
    with pytest.raises(TimeoutError):
        pending.result()
    assert response.cancelled and response.waited == 7.5
