"""The Serve app's HTTP route on a real local Ray: the scorer a worker builds for
``serving.mode: http`` (camera shards on, as by default) scores a batch through Serve's
proxy (no handle, no Ray Client), one POST per shard that Serve routes by its header to
one replica; the replica checks the Ray token, and the scores equal the in-process ones."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from streamproc.config import StreamprocConfig
from streamproc.config.serving import ServingConfig
from streamproc.pipeline import make_scorer
from streamproc.serving.affinity import shard_of
from streamproc.serving.client import HttpScorer, ScoringUnavailableError
from streamproc.serving.scorer import ScoreRequest, ScoringService
from tests.ray_head import free_ports

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(180)]


def test_http_route_scores_a_batch(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ray = pytest.importorskip("ray")
    from ray import serve

    from streamproc.ray_cluster import ensure_ray
    from streamproc.serving.app import AppArgs, bind_scorer, deployment_options

    token = uuid.uuid4().hex
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_AUTH_TOKEN", token)  # the replicas inherit it, as in the chart
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}/score"
    cfg = ServingConfig(
        app_name="test-http",
        num_cpus=0.5,
        max_batch_size=8,
        num_replicas=2,
        mode="http",
        url=url,
        route_prefix="/score",
    )
    assert cfg.camera_shards == ServingConfig().camera_shards == 8  # the default
    rng = np.random.default_rng(0)
    reqs = [
        ScoreRequest(f"cam{i}", i, rng.integers(0, 255, (4, 48, 64), np.uint8)) for i in range(5)
    ]
    reqs[1].roi = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]]
    shards = {shard_of(r.camera, cfg.camera_shards) for r in reqs}
    assert len(shards) > 1  # the batch is cut into several POSTs
    try:
        ensure_ray(None, num_cpus=2)
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        args = AppArgs(artifact=str(tiny_artifact), device="cpu", max_batch_size=8)
        serve.run(
            bind_scorer(args, deployment_options(cfg)),
            name=cfg.app_name,
            route_prefix=cfg.route_prefix,
        )
        client = make_scorer(StreamprocConfig(serving=cfg), tiny_artifact)
        assert isinstance(client, HttpScorer) and client.shards == cfg.camera_shards
        got = client.submit(reqs).result()
        want = ScoringService(tiny_artifact, "cpu").score(reqs)
        assert [(r.camera, r.seq) for r in got] == [(q.camera, q.seq) for q in reqs]
        np.testing.assert_allclose([r.scores for r in got], [r.scores for r in want], 1e-4)
        assert client.version() == want[0].model_version
        # Serve routed each shard's POST by its header: every shard the batch used is on
        # exactly one replica.
        handle = serve.get_app_handle(cfg.app_name)
        stats = {}
        for _ in range(40):  # reach both replicas
            st = handle.replica_stats.remote().result(timeout_s=60)
            stats[st["replica"]] = st
        taken = [shard for st in stats.values() for shard in st["shards"]]
        assert sorted(taken) == sorted(shards), stats
        with pytest.raises(ScoringUnavailableError, match=r"HTTP 401.*RAY_AUTH_TOKEN"):
            HttpScorer(url, timeout_s=30, token="wrong", shards=8).submit(reqs).result()
    finally:
        serve.shutdown()
        ray.shutdown()
