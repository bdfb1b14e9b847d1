"""Acceptance: a real Ray cluster, searches and training submitted through the Jobs API,
the best artifact exported, loaded and scoring, and a promotion hot-swapping Serve.

The cluster belongs to this module (``tests.ray_head``: its own session, ports and temp
dir, torn down without ``ray stop``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from streamproc.cli.app import app
from streamproc.config.serving import ServingConfig
from streamproc.model.artifact import load_artifact
from streamproc.model.store import ModelStore
from streamproc.training import train
from tests.helpers import tiny_config
from tests.ray_head import Cluster, ray_head

pytestmark = [pytest.mark.ray, pytest.mark.slow]
runner = CliRunner()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # A throwaway cluster on 127.0.0.1: no token, so the test never handles credentials
    # (tests/ray/test_ray_auth.py covers token authentication).
    with ray_head(4, {"RAY_AUTH_MODE": "disabled"}) as head:
        yield head


def _scores(path: str | Path) -> np.ndarray:
    art = load_artifact(path)
    p, w = art.config.data.preprocess, art.config.data.window
    x = np.random.default_rng(0).random((2, p.channels, w.length, p.height, p.width))
    return art.scorer().score(x.astype(np.float32)).frame_scores


def test_searches_run_as_jobs_and_export_the_best(
    cluster: Cluster, synthetic_dataset: Path, tiny_yaml: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    for search, trials in (("grid", 2), ("evolutionary", 3)):
        out = tmp_path / search
        res = runner.invoke(
            app,
            ["tune", "--data", str(synthetic_dataset), "--search", search,
             "--trials", str(trials), "--out", str(out), "--store", str(store),
             "--config", str(tiny_yaml), "--ray-address", cluster.dashboard],
        )  # fmt: skip
        assert res.exit_code == 0, res.output[-5000:]
        assert "submitted Ray job" in res.output and "best trial" in res.output  # logs streamed
        rows = json.loads((out / "results.json").read_text())
        assert len(rows) == trials
        assert all(r["status"] in ("completed", "stopped early") for r in rows), rows
        assert all(r["search"] == search and r["objective"] is not None for r in rows)
        assert (out / "results.csv").read_text().count("\n") == trials + 1
        assert (out / "objective.png").read_bytes()[:4] == b"\x89PNG"
        best = json.loads((out / "best.json").read_text())
        assert best["objective_kind"] == "auc" and best["split"]["validation"] == ["00"]
        assert best["trial"]["objective"] == max(r["objective"] for r in rows)
        assert 0 <= best["test"]["micro_auc"] <= 1
        assert load_artifact(best["artifact"]).version == best["version"]
        assert Path(best["artifact"]).parent.parent == store
        assert np.isfinite(_scores(best["artifact"])).all()
    assert 1 <= len(ModelStore(store).versions("attention-ae")) <= 2


def test_failed_job_fails_the_command(cluster: Cluster, tiny_yaml: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["tune", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "o"),
         "--config", str(tiny_yaml), "--ray-address", cluster.dashboard],
    )  # fmt: skip
    assert res.exit_code == 2, res.output[-3000:]  # the driver's own exit code
    assert "FAILED" in res.output and "does not exist" in res.output


def test_data_parallel_training_job(
    cluster: Cluster, synthetic_dataset: Path, tiny_yaml: Path, tmp_path: Path
) -> None:
    out = tmp_path / "art"
    res = runner.invoke(
        app,
        ["train", "--data", str(synthetic_dataset), "--out", str(out), "--config",
         str(tiny_yaml), "--epochs", "1", "--ray-address", cluster.dashboard],
    )  # fmt: skip
    assert res.exit_code == 0, res.output[-5000:]
    art = load_artifact(out)
    assert art.metadata["training"]["ray_train"] == {"workers": 2, "use_gpu": False}
    assert not (out / ".ray-train").exists() and np.isfinite(_scores(out)).all()


def test_promote_hot_swaps_the_serve_app(
    cluster: Cluster, synthetic_dataset: Path, tmp_path: Path
) -> None:
    import ray
    from ray import serve

    from streamproc.serving.launch import launch

    store = ModelStore(tmp_path / "store")
    versions = []
    for seed in (1, 2):
        train(
            tiny_config(training__epochs=1, training__seed=seed),
            synthetic_dataset,
            tmp_path / f"a{seed}",
        )
        versions.append(store.export(tmp_path / f"a{seed}").version)
    ray.init(address=cluster.gcs, log_to_driver=False)
    try:
        serve.start(proxy_location="Disabled")  # handles only: no HTTP port to clash on
        serving = ServingConfig(ray_address=cluster.gcs, num_cpus=0.5, device="cpu")
        handle = launch(serving, store.version_uri("attention-ae", versions[0]))
        assert handle.version.remote().result(timeout_s=60) == versions[0]
        res = runner.invoke(
            app,
            ["model", "promote", "--store", str(store.root), "--version", versions[1],
             "--ray-address", cluster.gcs],
        )  # fmt: skip
        assert res.exit_code == 0, res.output[-3000:]
        assert f"now serves version {versions[1]}" in res.output.replace("\n", " ")
        assert store.current("attention-ae") == versions[1]
        live = serve.get_app_handle(serving.app_name).version.remote().result(timeout_s=60)
        assert live == versions[1]
    finally:
        serve.shutdown()
        ray.shutdown()
