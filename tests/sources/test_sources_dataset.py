import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamproc.errors import DataError
from streamproc.sources import open_split, read_frames
from tests.conftest import synthetic_clip, write_clip


def test_labelled_split(synthetic_dataset: Path) -> None:
    clips = open_split(synthetic_dataset, "test", require_labels=True)
    assert [c.name for c in clips] == ["00", "01"]
    assert clips[0].labels is not None and clips[0].labels.sum() == 15
    frames = list(read_frames(clips[0].path))
    assert len(frames) == 40 and frames[0].shape == (48, 64, 3)


def test_label_count_mismatch_names_clip(tmp_path: Path) -> None:
    write_clip(tmp_path / "test" / "a", synthetic_clip(5, np.random.default_rng(0)))
    (tmp_path / "test_labels.json").write_text(json.dumps({"a": [0, 0, 1]}))
    with pytest.raises(DataError, match=r"clip 'a' has 3 labels but .* has 5 frames"):
        open_split(tmp_path, "test")


def test_missing_labels_and_layout(tmp_path: Path) -> None:
    write_clip(tmp_path / "test" / "a", synthetic_clip(3, np.random.default_rng(0)))
    with pytest.raises(DataError, match=r"test_labels\.json: missing"):
        open_split(tmp_path, "test", require_labels=True)
    with pytest.raises(DataError, match="no 'test/' folder"):
        open_split(tmp_path / "test" / "a", "test")


def test_unlabelled_camera_footage_is_train(tmp_path: Path) -> None:
    write_clip(tmp_path / "cam", synthetic_clip(6, np.random.default_rng(0)))
    clips = open_split(tmp_path / "cam", "train")
    assert len(clips) == 1 and clips[0].labels is None


def test_video_file_clip(tmp_path: Path) -> None:
    frames = synthetic_clip(12, np.random.default_rng(1))
    path = tmp_path / "train" / "v.avi"
    path.parent.mkdir(parents=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for f in frames:
        w.write(cv2.cvtColor(f, cv2.COLOR_GRAY2BGR))
    w.release()
    clips = open_split(tmp_path, "train")
    assert clips[0].name == "v"
    assert len(list(read_frames(clips[0].path))) == 12


def test_corrupt_image_and_video_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    write_clip(folder, synthetic_clip(2, np.random.default_rng(0)))
    (folder / "002.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"002\.png: cannot decode"):
        list(read_frames(folder))
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match=r"broken\.mp4"):
        list(read_frames(bad))
