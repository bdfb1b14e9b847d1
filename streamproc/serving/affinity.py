"""Camera affinity: the windows of one camera go to one Serve replica.

A replica's frame cache (``serving/frame_cache.py``) saves the optical flow of the frames
consecutive windows share, but only if the camera's next window reaches the same replica.
Serve's default router sends a call to any replica, so with ``n`` replicas about ``1/n``
of the shared frames hit. Here cameras are hashed into ``serving.camera_shards`` shards,
a worker's batch is cut into one call per shard, and each call names its shard as the
request's multiplexed model id (a handle option, or Serve's HTTP header), by which the
deployment's router (``serving/router.py``) sends every call of a shard to one replica.
Routing is a preference, never a correctness matter: a call that lands elsewhere (its
replica gone or full) costs a cache miss, nothing more.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Protocol

from streamproc.serving.scorer import ScoreRequest, ScoreResult

HEADER = "serve_multiplexed_model_id"  # the HTTP header Serve's proxy routes by


def shard_of(camera: str, shards: int) -> str:
    """The shard id of ``camera``: stable across processes and restarts (not ``hash``)."""
    return f"shard-{zlib.crc32(camera.encode()) % shards}"


def by_shard(requests: Sequence[ScoreRequest], shards: int) -> dict[str, list[int]]:
    """The positions of ``requests`` per shard, shards in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(shard_of(r.camera, shards), []).append(i)
    return groups


class Part(Protocol):
    """One shard's call in flight."""

    def result(self) -> list[ScoreResult]: ...

    def cancel(self) -> None: ...


class Sharded:
    """The pending scores of one batch sent as one call per shard, put back in order.
    If one call fails (a timeout), the others are cancelled too: the worker retries the
    whole batch, and no replica should score a part of it twice."""

    def __init__(self, n: int, parts: list[tuple[list[int], Part]]) -> None:
        self.n, self.parts = n, parts

    def result(self) -> list[ScoreResult]:
        out: dict[int, ScoreResult] = {}
        for k, (positions, part) in enumerate(self.parts):
            try:
                results = part.result()
            except BaseException:
                for _, other in self.parts[k + 1 :]:
                    other.cancel()
                raise
            if len(results) != len(positions):
                raise ValueError(f"{len(results)} results for {len(positions)} requests")
            out.update(zip(positions, results, strict=True))
        return [out[i] for i in range(self.n)]
