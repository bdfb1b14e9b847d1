"""How a stream worker reaches the model: one protocol, three peers.

``submit`` hands a batch of windows over and returns at once with a ``PendingScores``, so a
worker can fetch its next batch while the model works; ``result()`` waits for the scores.
``ServeScorer`` calls the Ray Serve deployment through a DeploymentHandle, a batch in one
call (``score_many``; the replica cuts it into model batches); ``LocalScorer`` runs the
same ``ScoringService`` in the worker process (synchronously: nothing overlaps there).
``HttpScorer`` POSTs the batch to the Serve app's HTTP route (``serving.http_codec``
format, standard library only), so a worker needs neither Ray nor Ray Client; a call
runs on a small thread pool so it overlaps like a handle's.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from streamproc.errors import ServiceUnavailableError, StreamprocError
from streamproc.ray_cluster import auth_headers, cluster_token
from streamproc.serving.affinity import HEADER, Part, Sharded, by_shard
from streamproc.serving.http_codec import CONTENT_TYPE, decode_results, encode_batch
from streamproc.serving.scorer import ScoreRequest, ScoreResult, ScoringService
from streamproc.verbosity import quiet_ray

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
            self.cancel()
            raise

    def cancel(self) -> None:
        try:
            self._response.cancel()
        except Exception as err:  # cancelling is best effort; the timeout is what counts
            log.debug("could not cancel a timed-out scoring request: %s", err)


class ServeScorer:
    """``shards`` > 0: one call per camera shard, routed to the replica holding it
    (``serving/affinity.py``); 0: the whole batch in one call to any replica."""

    def __init__(self, app_name: str, timeout_s: float = 60.0, shards: int = 0) -> None:
        from ray import serve  # imported here so the local path needs no Ray

        quiet_ray()  # Serve set its logger's level when imported (its router's lines)
        self.handle = serve.get_app_handle(app_name)
        self.timeout_s = timeout_s  # serving.request_timeout_s
        self.shards = shards
        self._routed: dict[str, Any] = {}  # shard -> its handle (made once per shard)

    def submit(self, requests: list[ScoreRequest]) -> PendingScores:
        if not self.shards:
            return _ServeResponse(self.handle.score_many.remote(requests), self.timeout_s)
        parts: list[tuple[list[int], Part]] = []
        for shard, positions in by_shard(requests, self.shards).items():
            routed = self._routed.get(shard)
            if routed is None:
                routed = self._routed[shard] = self.handle.options(multiplexed_model_id=shard)
            call = routed.score_shard.remote
            response = _ServeResponse(call([requests[i] for i in positions]), self.timeout_s)
            parts.append((positions, response))
        return Sharded(len(requests), parts)

    def version(self) -> str:
        return str(self.handle.version.remote().result(timeout_s=self.timeout_s))


class ScoringUnavailableError(ServiceUnavailableError):
    """The Serve HTTP route could not be reached, timed out, or failed the request for a
    reason of its own (a replica that died or is not ready): transient, retried."""


class ScoringRejectedError(StreamprocError):
    """The Serve HTTP route refused the batch itself (HTTP 400: it does not decode): the
    worker scores its windows alone, so only the one at fault is dead-lettered."""


class _HttpResponse:
    def __init__(self, future: Future[list[ScoreResult]]) -> None:
        self._future = future

    def result(self) -> list[ScoreResult]:
        return self._future.result()

    def cancel(self) -> None:
        self._future.cancel()  # a call already running finishes; its scores are dropped


class HttpScorer:
    """The Serve app's HTTP route. ``token`` (default: the Ray auth token this process
    has, see ``streamproc.ray_cluster.cluster_token``) goes in ``Authorization``.
    ``shards`` as for ``ServeScorer``: one POST per camera shard, with the shard in
    Serve's multiplexing header."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 60.0,
        token: str | None = None,
        max_in_flight: int = 2,
        shards: int = 0,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = auth_headers(token if token is not None else cluster_token())
        self.shards = shards
        # A batch's shards are posted side by side; max_in_flight batches at a time.
        threads = max_in_flight * max(1, min(shards, 8))
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="http-scorer")

    def _call(self, path: str, body: bytes | None, shard: str | None = None) -> bytes:
        headers = {**self.headers, **({"Content-Type": CONTENT_TYPE} if body else {})}
        if shard is not None:
            headers[HEADER] = shard
        req = urllib.request.Request(self.url + path, body, headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as err:
            detail = err.read()[:500].decode(errors="replace")
            hint = (
                "; the route needs the cluster's Ray auth token (RAY_AUTH_TOKEN or "
                "RAY_AUTH_TOKEN_PATH in the worker's environment)"
                if err.code in (401, 403)
                else ""
            )
            kind = ScoringRejectedError if err.code == 400 else ScoringUnavailableError
            raise kind(
                f"Serve route {self.url + path} answered HTTP {err.code}: {detail}{hint}"
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ScoringUnavailableError(
                f"cannot reach the Serve route {self.url + path} ({reason}) within "
                f"{self.timeout_s:g} s; check serving.url, that the Serve service resolves "
                "and that the app is RUNNING (`serve status` on the head)"
            ) from None

    def _score(self, requests: list[ScoreRequest], shard: str | None = None) -> list[ScoreResult]:
        return decode_results(self._call("", encode_batch(requests), shard))

    def submit(self, requests: list[ScoreRequest]) -> PendingScores:
        if not self.shards:
            return _HttpResponse(self._pool.submit(self._score, requests))
        parts: list[tuple[list[int], Part]] = []
        for shard, positions in by_shard(requests, self.shards).items():
            part = [requests[i] for i in positions]
            parts.append((positions, _HttpResponse(self._pool.submit(self._score, part, shard))))
        return Sharded(len(requests), parts)

    def version(self) -> str:
        return str(json.loads(self._call("/version", None))["version"])

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
