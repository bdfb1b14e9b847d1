"""The Ray Serve deployment: a thin shell around ``ScoringService``.

Three ways in, all dynamically batched by ``@serve.batch`` (and ``score_shard``, which
routes a camera shard's calls here: ``serving/affinity.py``): ``score`` takes one window;
``score_many`` takes a stream worker's whole poll (windows of many cameras) in one call,
which saves the per-call cost of Ray (routing, serialisation) for every window; calls of
several workers are merged and cut into model batches of ``max_batch_size`` windows.
HTTP (``__call__``, at the app's route prefix, through Serve's proxy): ``POST`` a batch
in the ``serving.http_codec`` format, get JSON scores (``score_many`` underneath);
``GET .../version``. When the replica was given a Ray auth token (``RAY_AUTH_TOKEN``,
as the chart sets it) a request must carry ``Authorization: Bearer <token>``: Serve's
proxy itself does not check Ray's token. (``hangpoint``: the chaos suite's hung replica.)
A new model version is rolled out with ``reconfigure`` (``user_config: {artifact: DIR}``):
the new artifact is loaded beside the old one and swapped in, so requests already running
finish on the model they started with.
"""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from ray import serve
from ray.serve.config import RequestRouterConfig

from streamproc.config.serving import DEFAULT_ENGINE, DEFAULT_PRECISION
from streamproc.cpu import stage_totals
from streamproc.model.device import PrecisionSetting
from streamproc.model.engine import Engine
from streamproc.ray_cluster import configured_token
from streamproc.serving import hangpoint
from streamproc.serving.http_codec import decode_batch, encode_results
from streamproc.serving.router import ROUTER
from streamproc.serving.scorer import ScoreRequest, ScoreResult, ScoringService
from streamproc.transport.wire import WireError


@serve.deployment(
    name="AnomalyScorer",
    # cast: Ray's pydantic model types the field for mypy as a dict; it takes a path.
    request_router_config=cast(Any, RequestRouterConfig)(request_router_class=ROUTER),
)
class AnomalyScorer:
    def __init__(
        self,
        artifact: str,
        device: str = "auto",
        max_batch_size: int = 16,
        batch_wait_timeout_s: float = 0.01,
        threads: int | None = None,
        frame_cache_frames: int = 1024,
        precision: PrecisionSetting = DEFAULT_PRECISION,
        engine: Engine = DEFAULT_ENGINE,
        forward_windows: int | None = None,
        concurrent_batches: int | None = None,
    ) -> None:
        self.service = ScoringService(
            artifact, device, frame_cache_frames, threads, precision, engine, forward_windows
        )
        # serving.concurrent_batches; None: Python's default pool size (min(32, CPUs + 4)),
        # i.e. every model batch of a call at once
        self.pool = ThreadPoolExecutor(concurrent_batches, "scorer")
        self.concurrent_batches = concurrent_batches
        self.max_batch_size = max_batch_size
        self.score_many.set_batch_wait_timeout_s(batch_wait_timeout_s)  # type: ignore[attr-defined]
        self.score.set_max_batch_size(max_batch_size)  # type: ignore[attr-defined]
        self.score.set_batch_wait_timeout_s(batch_wait_timeout_s)  # type: ignore[attr-defined]
        self.token = configured_token()
        self.shards: set[str] = set()  # camera shards routed here so far

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        artifact = user_config.get("artifact")
        if artifact and artifact != self.service.artifact_path:
            self.service.load(artifact)

    # The scoring itself (preprocessing, optical flow, the network) runs on the pool's
    # threads, not on the replica's event loop, so the loop keeps receiving and batching;
    # OpenCV and torch release the GIL, so one model batch's preprocessing overlaps
    # another's model work (unless serving.concurrent_batches is 1).

    async def _scored(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.service.score, requests)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
    async def score(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        return await self._scored(requests)

    async def score_shard(self, requests: list[ScoreRequest]) -> list[ScoreResult]:
        """``score_many`` for the windows of one camera shard, which ``serving/router.py``
        sends here (the shard is the request's multiplexed model id)."""
        shard = serve.get_multiplexed_model_id()
        if shard:
            self.shards.add(shard)
        return await self.score_many(requests)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def score_many(self, calls: list[list[ScoreRequest]]) -> list[list[ScoreResult]]:
        flat = [r for call in calls for r in call]
        n = self.max_batch_size
        parts = await asyncio.gather(
            *(self._scored(flat[i : i + n]) for i in range(0, len(flat), n))
        )
        results = [res for part in parts for res in part]
        out, at = [], 0
        for call in calls:
            out.append(results[at : at + len(call)])
            at += len(call)
        return out

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import Response

        def reply(body: dict[str, Any], status: int) -> Response:
            return Response(json.dumps(body), status, media_type="application/json")

        hangpoint.reached()  # the chaos suite's hung replica; a no-op unless armed
        if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
            return reply({"error": "missing or wrong 'Authorization: Bearer <token>'"}, 401)
        if request.method == "GET" and request.url.path.rstrip("/").endswith("/version"):
            return reply({"version": self.service.version}, 200)
        if request.method != "POST":
            return reply({"error": "POST a batch, or GET .../version"}, 405)
        try:
            requests = decode_batch(await request.body())
        except WireError as err:
            return reply({"error": str(err)}, 400)
        results = await self.score_shard(requests)
        return Response(encode_results(results), media_type="application/json")

    def version(self) -> str:
        return self.service.version

    def replica_stats(self) -> dict[str, Any]:
        """This replica's frame cache hits and misses, the camera shards it took (how well
        camera affinity keeps each camera's frames on one replica), the CPU seconds its
        threads spent in each stage so far (``streamproc.cpu``) and how many model calls it
        runs at once (None: no limit but the pool's)."""
        cache = self.service.cache
        replica = serve.get_replica_context().replica_id.unique_id
        return {
            "replica": replica,
            "hits": cache.hits,
            "misses": cache.misses,
            "shards": sorted(self.shards),
            "stages": stage_totals(),
            "concurrent_batches": self.concurrent_batches,
        }

    def check_health(self) -> None:
        # Raising marks the replica unhealthy and Serve replaces it.
        if not self.service.version:
            raise RuntimeError("no model loaded")
