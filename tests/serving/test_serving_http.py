"""The Serve app's HTTP route on a real local Ray: HttpScorer scores a batch through
Serve's proxy (no handle, no Ray Client), the replica checks the Ray token, and the
scores equal the in-process ones."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from streamproc.config.serving import ServingConfig
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
    cfg = ServingConfig(app_name="test-http", num_cpus=0.5, max_batch_size=8)
    rng = np.random.default_rng(0)
    reqs = [
        ScoreRequest(f"cam{i % 2}", i, rng.integers(0, 255, (4, 48, 64), np.uint8))
        for i in range(5)
    ]
    reqs[1].roi = [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]]
    (port,) = free_ports(1)
    try:
        ensure_ray(None, num_cpus=2)
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        args = AppArgs(artifact=str(tiny_artifact), device="cpu", max_batch_size=8)
        serve.run(
            bind_scorer(args, deployment_options(cfg)),
            name=cfg.app_name,
            route_prefix=cfg.route_prefix,
        )
        url = f"http://127.0.0.1:{port}{cfg.route_prefix}"
        client = HttpScorer(url, timeout_s=60, token=token)
        got = client.submit(reqs).result()
        want = ScoringService(tiny_artifact, "cpu").score(reqs)
        assert [(r.camera, r.seq) for r in got] == [(q.camera, q.seq) for q in reqs]
        np.testing.assert_allclose([r.scores for r in got], [r.scores for r in want], 1e-4)
        assert client.version() == want[0].model_version
        with pytest.raises(ScoringUnavailableError, match=r"HTTP 401.*RAY_AUTH_TOKEN"):
            HttpScorer(url, timeout_s=30, token="wrong").submit(reqs).result()
    finally:
        serve.shutdown()
        ray.shutdown()
