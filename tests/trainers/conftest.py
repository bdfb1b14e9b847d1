"""Fixtures of the trainers tests: the tiny config as a file, the synthetic dataset
loaded as a search would load it, and a tiny trained artifact."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamproc.training import train
from tests.helpers import tiny_config
from trainers.data import SearchData, load_search_data

TINY_YAML = """
data:
  preprocess: {height: 32, width: 48}
  window: {length: 4, stride: 2}
model: {base_channels: 8, latent_channels: 4, attention_heads: 2}
training: {epochs: 2, batch_size: 8, threads: 1, holdout_fraction: 0.3}
scoring: {patch: 8}
smoothing: {window: 3, persistence_k: 2, persistence_n: 3}
"""


@pytest.fixture(scope="session")
def tiny_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trainers-cfg") / "tiny.yaml"
    path.write_text(TINY_YAML)
    return path


@pytest.fixture(scope="session")
def search_data(synthetic_dataset: Path) -> SearchData:
    cfg = tiny_config()
    return load_search_data(synthetic_dataset, cfg.data, 0.3, 0)


@pytest.fixture(scope="session")
def small_artifact(synthetic_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trainers-art") / "art"
    train(tiny_config(training__epochs=1), synthetic_dataset, out)
    return out
