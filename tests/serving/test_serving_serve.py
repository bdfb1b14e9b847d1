"""The scorer on a real local Ray Serve: batching, and a model version switch through
reconfigure while requests are in flight (none dropped, the new version answers after)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from streamproc.config.serving import ServingConfig
from streamproc.model.artifact import load_artifact, save_artifact
from streamproc.serving.affinity import shard_of
from streamproc.serving.client import ServeScorer
from streamproc.serving.scorer import ScoreRequest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def requests(n: int) -> list[ScoreRequest]:
    rng = np.random.default_rng(0)
    return [
        ScoreRequest(f"cam{i % 3}", i, rng.integers(0, 255, (4, 48, 64), np.uint8))
        for i in range(n)
    ]


def test_serve_batches_and_hot_swaps_versions(tmp_path: Path, tiny_artifact: Path) -> None:
    ray = pytest.importorskip("ray")
    from ray import serve

    from streamproc.serving.launch import launch

    v2_dir = tmp_path / "v2"
    shutil.copytree(tiny_artifact, v2_dir)
    art = load_artifact(v2_dir)
    art.stats["threshold"] = art.threshold * 2  # a different artifact, so a new version id
    v2 = save_artifact(art, v2_dir)
    v1 = load_artifact(tiny_artifact).version
    assert v1 != v2
    cfg = ServingConfig(app_name="test-scorer", num_cpus=0.5, max_batch_size=8)
    try:
        launch(cfg, tiny_artifact)
        client = ServeScorer(cfg.app_name)
        first = client.submit(requests(12)).result()
        assert [r.seq for r in first] == list(range(12)) and {r.model_version for r in first} == {
            v1
        }
        assert all(len(r.scores) == 4 for r in first)
        # Calls of several workers are merged and cut into model batches (8 here), and
        # every caller gets its own windows back, in order.
        calls = [requests(5), requests(11)[5:], requests(3)]
        pending = [client.submit(c) for c in calls]
        for call, p in zip(calls, pending, strict=True):
            got = p.result()
            assert [(r.camera, r.seq) for r in got] == [(q.camera, q.seq) for q in call]
            ref = {r.seq: r.scores for r in first}
            np.testing.assert_allclose([r.scores for r in got], [ref[q.seq] for q in call], 1e-4)
        handle = serve.get_app_handle(cfg.app_name)
        in_flight = [handle.score.remote(r) for r in requests(40)]
        launch(cfg.model_copy(), v2_dir)  # redeploy with a new user_config -> reconfigure
        done = [r.result(timeout_s=120) for r in in_flight]
        assert len(done) == 40 and {d.model_version for d in done} <= {v1, v2}
        assert client.version() == v2
        assert {r.model_version for r in client.submit(requests(4)).result()} == {v2}
    finally:
        serve.shutdown()
        ray.shutdown()


def test_camera_shards_keep_each_cameras_frames_on_one_replica(tiny_artifact: Path) -> None:
    ray = pytest.importorskip("ray")
    from ray import serve

    from streamproc.serving.launch import launch

    cfg = ServingConfig(
        app_name="test-affinity", num_cpus=0.25, num_replicas=2, concurrent_batches=1
    )
    cameras = [f"aff{i}" for i in range(8)]
    rng = np.random.default_rng(1)
    frames = {c: rng.integers(0, 255, (20, 48, 64), np.uint8) for c in cameras}
    try:
        launch(cfg, tiny_artifact)
        client = ServeScorer(cfg.app_name, shards=4)
        # Windows of 4 frames at stride 2, every camera's in turn, one batch at a time:
        # each frame (but the first two of a camera) is in two windows.
        for seq in range(0, 17, 2):
            batch = [
                ScoreRequest(c, seq, frames[c][seq : seq + 4], frames[c][seq - 1] if seq else None)
                for c in cameras
            ]
            assert [r.seq for r in client.submit(batch).result()] == [seq] * len(cameras)
        handle = serve.get_app_handle(cfg.app_name)
        stats = {}
        for _ in range(40):  # reach both replicas
            s = handle.replica_stats.remote().result(timeout_s=60)
            stats[s["replica"]] = s
        assert len(stats) == 2
        assert {s["concurrent_batches"] for s in stats.values()} == {1}  # as configured
        taken = [shard for s in stats.values() for shard in s["shards"]]
        used = {shard_of(c, 4) for c in cameras}
        assert sorted(taken) == sorted(used)  # every shard on exactly one replica
        # Each distinct frame was preprocessed once in the whole deployment.
        assert sum(s["misses"] for s in stats.values()) == len(cameras) * 20
    finally:
        serve.shutdown()
        ray.shutdown()
