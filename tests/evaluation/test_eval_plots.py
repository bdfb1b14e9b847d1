"""Plots and the review video: files exist, decode, have the expected size and content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from streamproc.errors import DataError
from streamproc.evaluation.plots import (
    Curve,
    VideoWriteError,
    plot_heatmaps,
    plot_roc,
    plot_timelines,
    write_side_by_side_video,
)


def read_png(path: Path) -> np.ndarray:
    assert path.is_file() and path.stat().st_size > 1000
    img = cv2.imread(str(path))
    assert img is not None
    return img


def test_plot_roc_writes_a_png_of_the_figure_size(tmp_path: Path) -> None:
    curves: dict[str, Curve] = {
        "model": ([0, 0, 0.5, 1], [0, 0.5, 1, 1], 0.875),
        "chance-ish": ([0, 1], [0, 1], 0.5),
    }
    out = plot_roc(curves, tmp_path / "sub" / "roc.png")
    assert out == tmp_path / "sub" / "roc.png"
    assert read_png(out).shape == (500, 550, 3)  # 5.5 x 5 in at 100 dpi


def test_plot_timelines_one_row_per_clip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    scores = {name: rng.random(n) for name, n in (("01", 120), ("02", 80), ("03", 60))}
    labels = {name: (np.arange(s.size) > s.size // 2).astype(int) for name, s in scores.items()}
    decisions = {name: s > 0.7 for name, s in scores.items()}
    img = read_png(plot_timelines(scores, labels, 0.7, tmp_path / "t.png", decisions=decisions))
    assert img.shape == (720, 1100, 3)  # 11 x (1.2 + 3 * 2.0) in at 100 dpi
    # The ground-truth shading is a light red: some pixels must be clearly reddish.
    b, g, r = (img[..., i].astype(int) for i in range(3))
    assert np.count_nonzero((r - b > 20) & (r - g > 20)) > 1000


def test_plot_timelines_without_threshold_or_decisions(tmp_path: Path) -> None:
    img = read_png(
        plot_timelines({"a": np.ones(10)}, {"a": np.zeros(10)}, None, tmp_path / "t.png")
    )
    assert img.shape == (320, 1100, 3)


def test_plot_timelines_names_a_misaligned_clip(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="clip 'a'"):
        plot_timelines({"a": np.ones(10)}, {"a": np.zeros(9)}, 0.5, tmp_path / "t.png")


def test_plot_heatmaps_grid_with_gray_and_rgb_frames(tmp_path: Path) -> None:
    gray = np.full((60, 80), 128, dtype=np.uint8)
    rgb = np.zeros((60, 80, 3), dtype=np.uint8)
    err = np.zeros((15, 20))  # smaller than the frame: resized
    err[:, 10:] = 1.0
    items = [("clip 01 frame 10", gray, err), ("clip 02 frame 3", rgb, err.T.copy())]
    img = read_png(plot_heatmaps(items, tmp_path / "h.png"))
    assert img.shape == (640, 700, 3)  # 7 x (3.2 * 2) in at 100 dpi


def test_plot_heatmaps_refuses_float_frames(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="uint8"):
        plot_heatmaps([("x", np.zeros((4, 4)), np.zeros((4, 4)))], tmp_path / "h.png")


def make_clip(n: int) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    frames = [np.full((48, 64), 200, dtype=np.uint8) for _ in range(n)]
    recons = [np.full((48, 64, 3), (0, 0, 255), dtype=np.uint8) for _ in range(n)]  # RGB blue
    heat = np.zeros((12, 16), dtype=np.float32)
    heat[:, 8:] = 1.0  # high error in the right half
    return frames, recons, [heat] * n


@pytest.mark.parametrize("name", ["review.mp4", "review.avi"])
def test_side_by_side_video_reads_back(tmp_path: Path, name: str) -> None:
    frames, recons, heatmaps = make_clip(7)
    written = write_side_by_side_video(frames, recons, heatmaps, tmp_path / name, fps=5)
    assert written.is_file() and written.stat().st_size > 0
    cap = cv2.VideoCapture(str(written))
    decoded = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded.append(frame)
    cap.release()
    assert len(decoded) == 7
    last = decoded[-1].astype(int)
    assert last.shape == (48, 192, 3)  # three 64-wide panels
    # Below the text label: input is grey 200, reconstruction blue (BGR), error jet red/blue.
    body = last[30:, :]
    assert abs(body[:, :64].mean() - 200) < 15
    recon = body[:, 64:128]
    assert recon[..., 0].mean() > 200 and recon[..., 2].mean() < 50
    cold, hot = body[:, 128:150], body[:, 172:192]
    assert hot[..., 2].mean() > 100 > cold[..., 2].mean()
    assert cold[..., 0].mean() > 100 > hot[..., 0].mean()


def test_video_with_unsupported_suffix_is_refused(tmp_path: Path) -> None:
    frames, recons, heatmaps = make_clip(2)
    with pytest.raises(VideoWriteError, match=r"\.mp4 or \.avi"):
        write_side_by_side_video(frames, recons, heatmaps, tmp_path / "v.gif")


def test_video_with_mismatched_lengths_is_refused(tmp_path: Path) -> None:
    frames, recons, heatmaps = make_clip(3)
    with pytest.raises(DataError, match="3, 2, 3"):
        write_side_by_side_video(frames, recons[:2], heatmaps, tmp_path / "v.mp4")


def test_mp4_falls_back_to_avi_when_the_mp4_writer_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = cv2.VideoWriter

    class NoMp4:
        fourcc = staticmethod(real.fourcc)

        def __new__(cls, path: str, code: int, fps: float, size: tuple[int, int]) -> Any:
            # An unopened writer is what OpenCV returns when a codec/muxer is missing.
            return real() if path.endswith(".mp4") else real(path, code, fps, size)

    monkeypatch.setattr(cv2, "VideoWriter", NoMp4)
    frames, recons, heatmaps = make_clip(3)
    written = write_side_by_side_video(frames, recons, heatmaps, tmp_path / "v.mp4")
    assert written == tmp_path / "v.avi" and written.stat().st_size > 0


def test_writer_that_never_opens_raises_video_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Closed:
        fourcc = staticmethod(cv2.VideoWriter.fourcc)

        def __init__(self, *args: object) -> None:
            pass

        def isOpened(self) -> bool:
            return False

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoWriter", Closed)
    frames, recons, heatmaps = make_clip(2)
    with pytest.raises(VideoWriteError, match="could not open"):
        write_side_by_side_video(frames, recons, heatmaps, tmp_path / "v.mp4")
