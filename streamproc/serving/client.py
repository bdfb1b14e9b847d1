"""How a stream worker reaches the model: one protocol, two peers.

``ServeScorer`` calls the Ray Serve deployment through a DeploymentHandle (requests of
one poll are sent together so ``@serve.batch`` can batch them); ``LocalScorer`` runs the
same ``ScoringService`` in the worker process.
"""

from __future__ import annotations

from typing import Protocol

from streamproc.serving.scorer import ScoreRequest, ScoreResult, ScoringService


class ScorerClient(Protocol):
    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]: ...

    def version(self) -> str: ...


class LocalScorer:
    def __init__(self, service: ScoringService) -> None:
        self.service = service

    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        return self.service.score(requests)

    def version(self) -> str:
        return self.service.version


class ServeScorer:
    def __init__(self, app_name: str, timeout_s: float = 60.0) -> None:
        from ray import serve  # imported here so the local path needs no Ray

        self.handle = serve.get_app_handle(app_name)
        self.timeout_s = timeout_s

    def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        responses = [self.handle.score.remote(r) for r in requests]
        return [r.result(timeout_s=self.timeout_s) for r in responses]

    def version(self) -> str:
        return str(self.handle.version.remote().result(timeout_s=self.timeout_s))
