"""How a stream worker reaches the model: one protocol, two peers.

``submit`` hands a batch of windows over and returns at once with a ``PendingScores``, so a
worker can fetch its next batch while the model works; ``result()`` waits for the scores.
``ServeScorer`` calls the Ray Serve deployment through a DeploymentHandle, a batch in one
call (``score_many``; the replica cuts it into model batches); ``LocalScorer`` runs the
same ``ScoringService`` in the worker process (synchronously: nothing overlaps there).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from streamproc.serving.scorer import ScoreRequest, ScoreResult, ScoringService

log = logging.getLogger("streamproc.serving.client")


class PendingScores(Protocol):
    def result(self) -> list[ScoreResult]:
        """The scores, in request order; raises what the scoring raised."""


class ScorerClient(Protocol):
    def submit(self, requests: list[ScoreRequest]) -> PendingScores: ...

    def version(self) -> str: ...


class _Done:
    def __init__(self, results: list[ScoreResult]) -> None:
        self._results = results

    def result(self) -> list[ScoreResult]:
        return self._results


class LocalScorer:
    def __init__(self, service: ScoringService) -> None:
        self.service = service

    def submit(self, requests: list[ScoreRequest]) -> PendingScores:
        return _Done(self.service.score(requests))

    def version(self) -> str:
        return self.service.version


class _ServeResponse:
    def __init__(self, response: Any, timeout_s: float) -> None:
        self._response, self._timeout_s = response, timeout_s

    def result(self) -> list[ScoreResult]:
        """The scores; on a timeout the request is cancelled before the error is raised,
        so the worker's retry does not queue a second copy behind the first on an
        overloaded replica."""
        try:
            return list(self._response.result(timeout_s=self._timeout_s))
        except TimeoutError:  # Ray's GetTimeoutError is one too
            self._cancel()
            raise

    def _cancel(self) -> None:
        try:
            self._response.cancel()
        except Exception as err:  # cancelling is best effort; the timeout is what counts
            log.debug("could not cancel a timed-out scoring request: %s", err)


class ServeScorer:
    def __init__(self, app_name: str, timeout_s: float = 60.0) -> None:
        from ray import serve  # imported here so the local path needs no Ray

        self.handle = serve.get_app_handle(app_name)
        self.timeout_s = timeout_s  # serving.request_timeout_s

    def submit(self, requests: list[ScoreRequest]) -> PendingScores:
        return _ServeResponse(self.handle.score_many.remote(requests), self.timeout_s)

    def version(self) -> str:
        return str(self.handle.version.remote().result(timeout_s=self.timeout_s))
