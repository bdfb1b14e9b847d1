from pathlib import Path

import numpy as np
import pytest

from streamproc.errors import DataError
from tests.helpers import tiny_config
from trainers.data import SearchData, inject_anomaly, load_search_data, validation_split

PED2_TEST = [f"{i:02d}" for i in range(1, 13)]


def test_ped2_validation_split_is_documented_one() -> None:
    val, test = validation_split(PED2_TEST)
    assert val == ["01", "05", "09"]
    assert test == ["02", "03", "04", "06", "07", "08", "10", "11", "12"]
    assert validation_split(PED2_TEST, chosen=["12", "02"])[0] == ["02", "12"]
    with pytest.raises(DataError, match="not test clips"):
        validation_split(PED2_TEST, chosen=["99"])
    with pytest.raises(DataError, match="none left"):
        validation_split(["01"])


def test_labelled_search_data_keeps_parts_apart(search_data: SearchData) -> None:
    split = search_data.split()
    assert search_data.objective == "auc"
    assert split["validation"] == ["00"] and split["test"] == ["01"]
    assert not set(split["train"]) & set(split["calibration"])
    assert all(c.labels is not None for c in search_data.validation + search_data.test)
    assert search_data.without_test().test == [] and search_data.test


def test_inject_anomaly_marks_the_middle_third() -> None:
    frames = [np.full((24, 36, 3), 120, np.uint8) for _ in range(30)]
    out, labels = inject_anomaly(frames, seed=1)
    assert labels.tolist() == [0] * 10 + [1] * 10 + [0] * 10
    changed = [not np.array_equal(a, b) for a, b in zip(frames, out, strict=True)]
    assert changed == [bool(x) for x in labels]
    assert np.array_equal(frames[0], np.full((24, 36, 3), 120, np.uint8))  # input untouched


def test_label_free_data_uses_pseudo_labelled_holdout(synthetic_dataset: Path) -> None:
    data = load_search_data(synthetic_dataset, tiny_config().data, 0.3, 0, "label-free")
    assert data.objective == "label-free" and data.test == []
    held = data.calibration[0]
    pseudo = data.validation[0]
    assert pseudo.name == f"{held.name}+synthetic"
    assert pseudo.frames.shape == held.frames.shape
    assert pseudo.labels is not None and 0 < pseudo.labels.mean() < 1


def test_auc_objective_needs_labels(tmp_path: Path, synthetic_dataset: Path) -> None:
    (tmp_path / "train").symlink_to(synthetic_dataset / "train")
    cfg = tiny_config().data
    with pytest.raises(DataError, match="label-free"):
        load_search_data(tmp_path, cfg, 0.3, 0, "auc")
    assert load_search_data(tmp_path, cfg, 0.3, 0).objective == "label-free"
