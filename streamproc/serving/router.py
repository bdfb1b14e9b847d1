"""The Serve request router of the scorer: camera shards stick to replicas.

A call that names a camera shard (``serving/affinity.py``; the shard rides as the
request's multiplexed model id, which Serve's HTTP proxy also reads from a header) goes
to the replica that rendezvous hashing ranks first for the shard over the live replicas:
every router (each worker's handle, each HTTP proxy) computes the same choice with no
coordination, and adding or removing a replica moves only the shards it wins or held.
Serve tries the ranks in order, so when the first replica is at ``max_ongoing_requests``
the call goes to the second (a cache miss there, never a lost call). A call without a
shard goes to the less loaded of two random replicas, as Serve's default router does.
"""

from __future__ import annotations

import hashlib
import random

from ray.serve.request_router import PendingRequest, RequestRouter, RunningReplica

ROUTER = "streamproc.serving.router.CameraShardRouter"  # how Serve's config names it


def rank(shard: str, replica_ids: list[str]) -> list[str]:
    """``replica_ids`` in the shard's rendezvous order (highest weight first)."""

    def weight(replica: str) -> bytes:
        return hashlib.blake2b(f"{shard}\0{replica}".encode(), digest_size=8).digest()

    return sorted(replica_ids, key=weight, reverse=True)


class CameraShardRouter(RequestRouter):
    """No FIFOMixin: a replica chosen for a call must serve that very call (Serve's FIFO
    matching would hand it to the oldest waiting call, of any shard)."""

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        shard = pending_request.metadata.multiplexed_model_id if pending_request else ""
        if not shard:
            return [random.sample(candidate_replicas, min(2, len(candidate_replicas)))]
        by_id = {r.replica_id.unique_id: r for r in candidate_replicas}
        return [[by_id[i]] for i in rank(shard, list(by_id))]
