"""Breaks in capture: the runner marks the first frame after a reconnect, a looped file's
wrap, a gap in the source's timeline or a cut in the picture (``Frame.discontinuity``),
and a stream's frames are timed by the stream's own clock, not by their arrival."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from streamproc.sources.breaks import BreakDetector
from streamproc.sources.camera import CameraDisconnected, FileCamera, Frame, StreamCamera
from streamproc.sources.runner import CameraRunner
from tests.sources.test_sources_camera import FakeCapture
from tests.sources.test_sources_runner import FakeTime, ScriptedCamera, Sink, cfg, metric, run


def scene(seed: int, shape: tuple[int, int] = (60, 80)) -> np.ndarray:
    """A textured frame; another seed is another, unrelated picture."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, shape).astype(np.uint8), (0, 0), 3)


def walker(t: int, base: np.ndarray) -> np.ndarray:
    """``base`` with a small dark blob moving 2 px a frame: ordinary motion."""
    img = base.copy()
    cv2.circle(img, (10 + 2 * t, 30), 4, 0, -1)
    return img


class TimelineCamera:
    """A live source that plays the given frames once, then ends."""

    live, finite, fps = True, False, 10.0

    def __init__(self, frames: list[Frame]) -> None:
        self.camera_id, self.frames = "timeline", list(frames)

    def open(self) -> None:
        pass

    def read(self) -> Frame | None:
        return self.frames.pop(0) if self.frames else None

    def close(self) -> None:
        pass


def marks(frames: list[Frame], cam_id: str, **kw: object) -> list[str | None]:
    sink = Sink()
    ft = FakeTime()
    camera = TimelineCamera(frames)
    runner = CameraRunner(
        cfg(cam_id, **kw), sink, camera=camera, clock=ft.clock, sleep=ft.sleep, queue_size=64
    )
    run(runner)
    assert len(sink.frames) == len(frames)
    return [f.discontinuity for f in sink.frames]


def test_a_reconnect_marks_the_first_frame_of_the_new_connection() -> None:
    ft = FakeTime()
    sink = Sink()
    cam = ScriptedCamera([5, CameraDisconnected("down"), 3], ft)
    run(CameraRunner(cfg("brk-reconnect"), sink, camera=cam, clock=ft.clock, sleep=ft.sleep))
    assert [f.discontinuity for f in sink.frames] == [None] * 5 + ["reconnect", None, None]
    assert (
        metric("streamproc_capture_breaks_total", camera="brk-reconnect", reason="reconnect") == 1
    )


def test_a_gap_of_more_than_max_gap_intervals_is_a_break_either_way() -> None:
    base = scene(1)
    pts = [0.0, 0.1, 0.2, 0.45, 0.55, 1.0, 1.1, 0.2, 0.3]  # 2.5 intervals: no break; 4.5: one
    frames = [Frame(walker(i, base), 1000 + p, i, p) for i, p in enumerate(pts)]
    # The source's rate (10 fps) sets the interval: breaks past 0.3 s, forward or back.
    got = marks(frames, "brk-gap")
    assert got == [None, None, None, None, None, "gap", None, "gap", None]
    assert marks(frames, "brk-gap-5", max_gap_intervals=5) == [None] * 7 + ["gap", None]
    assert marks(frames, "brk-gap-off", max_gap_intervals=None) == [None] * 9


def test_a_looped_file_marks_each_wrap(tmp_path: Path) -> None:
    for i in range(5):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((8, 12), 40 * i, np.uint8))
    cam = FileCamera("loop", tmp_path, loop=True)
    cam.open()
    got = [cam.read() for _ in range(12)]
    assert [f.discontinuity for f in got if f is not None] == (
        [None] * 5 + ["loop"] + [None] * 4 + ["loop", None]
    )
    # The source's timeline runs on over the wrap, so fps sampling stays on its grid.
    assert [f.pts for f in got if f is not None] == [i / 10 for i in range(12)]


def test_a_jump_in_the_picture_is_a_cut_and_a_large_moving_object_cuts_at_most_once() -> None:
    a, b = scene(1), scene(2)
    walk = [walker(t, a) for t in range(6)] + [walker(t, b) for t in range(6)]
    frames = [Frame(img, 1000 + i / 10, i, i / 10) for i, img in enumerate(walk)]
    assert marks(frames, "brk-cut") == [None] * 6 + ["cut"] + [None] * 5
    assert marks(frames, "brk-cut-off", cut_level=None) == [None] * 12
    # A big object crossing: every step changes much of the picture, yet no run of cuts.
    truck = []
    for t in range(12):
        img = a.copy()
        cv2.rectangle(img, (6 * t, 5), (6 * t + 30, 55), 255, -1)
        truck.append(Frame(img, 1000 + t / 10, t, t / 10))
    assert marks(truck, "brk-truck").count("cut") <= 1


def test_the_detector_takes_no_reference_across_a_break() -> None:
    det = BreakDetector(0.3, 2.5)
    a, b = scene(1), scene(2)
    assert det.check(Frame(a, 0, 0, 0.0)) is None
    assert det.check(Frame(b, 0, 1, 0.1, discontinuity="reconnect")) == "reconnect"
    # The first step after a break has no step before it to compare with: no cut.
    assert det.check(Frame(a, 0, 2, 0.2)) is None


def test_a_stream_is_timed_by_its_own_clock_so_a_burst_on_connect_is_not_skipped() -> None:
    # On connecting, a client is handed seconds of buffered frames within milliseconds;
    # FFmpeg reports position 0 for the first two, then the frames' own times.
    positions = [0.0, 0.0] + [100.0 * i for i in range(1, 29)]
    cap = FakeCapture(30, positions)
    ft = FakeTime()  # a clock that stands still: the whole burst arrives at once
    cam = StreamCamera("burst", "rtsp://cam/x", clock=ft.clock, capture_factory=lambda t, s: cap)
    sink = Sink()
    runner = CameraRunner(cfg("brk-burst", fps=10), sink, camera=cam, clock=ft.clock, queue_size=64)
    runner.start()
    runner.join(5)
    runner.stop()
    # Every frame is kept but the repeated position 0 (on arrival times only the first
    # would be, and the next kept frame would lie seconds of footage later).
    assert sink.indices[:6] == [0, 2, 3, 4, 5, 6]
    assert [f.discontinuity for f in sink.frames[:6]] == [None] * 6


def test_a_file_is_never_cut_a_sudden_change_in_footage_is_no_jump(tmp_path: Path) -> None:
    """Files and folders flag their own loops; a sudden anomaly in recorded footage (the
    cut level's kind of jump) stays in its segment, as the offline evaluation sees it."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(12):
        shade = 40 if i < 6 else 200  # a jump far above cut_level half-way
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((48, 64), shade, np.uint8))
    sink = Sink()
    camera = FileCamera("brk-file", folder, source_fps=10.0)
    runner = CameraRunner(cfg("brk-file", realtime=False), sink, camera=camera, queue_size=64)
    run(runner)
    assert len(sink.frames) == 12 and [f.discontinuity for f in sink.frames] == [None] * 12
    # The same jump in a live stream is a cut.
    live = [Frame(np.full((48, 64), 40 if i < 6 else 200, np.uint8), 0.0, i, i / 10)
            for i in range(12)]  # fmt: skip
    assert marks(live, "brk-live")[6] == "cut"
