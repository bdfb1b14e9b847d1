"""Camera sources (file, folder, stream, synthetic) and the cameras config they are built from."""

from __future__ import annotations

import itertools
import re
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from streamproc.config.cameras import CameraConfig, CamerasConfig, ReconnectConfig, parse_source
from streamproc.errors import DataError
from streamproc.sources.camera import (
    CameraDisconnected,
    FileCamera,
    Frame,
    StreamCamera,
    SyntheticCamera,
    open_camera,
)
from streamproc.sources.runner import CameraRunner


def ticking(start: float = 1000.0, step: float = 0.5) -> Any:
    """A fake clock that advances ``step`` per call."""
    counter = itertools.count()
    return lambda: start + step * next(counter)


def write_video(path: Path, n: int, fps: float = 25.0, size: tuple[int, int] = (48, 64)) -> None:
    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((h, w, 3), 10 * i, np.uint8))
    writer.release()


def write_folder(folder: Path, n: int) -> None:
    folder.mkdir()
    for i in range(n):  # 2.png, 10.png: natural order must beat lexical order
        cv2.imwrite(str(folder / f"{i}.png"), np.full((16, 24), 20 * i, np.uint8))


# -- config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "kind", "extra"),
    [
        ("synthetic", "synthetic", {"seed": 0}),
        ("synthetic:7", "synthetic", {"seed": 7}),
        ("0", "device", {"device": 0}),
        ("device:2", "device", {"device": 2}),
        ("rtsp://u:p@cam/stream", "stream", {"target": "rtsp://u:p@cam/stream"}),
        ("https://cam/video.mjpg", "stream", {}),
        ("/data/hall.mp4", "file", {"target": "/data/hall.mp4"}),
        ("file:///data/frames", "file", {"target": "/data/frames"}),
    ],
)
def test_parse_source(source: str, kind: str, extra: dict[str, Any]) -> None:
    spec = parse_source(source)
    assert spec.kind == kind
    for key, value in extra.items():
        assert getattr(spec, key) == value


@pytest.mark.parametrize(
    ("source", "message"),
    [("", "empty"), ("synthetic:x", "seed"), ("device:a", "device index"), ("ftp://x", "scheme")],
)
def test_bad_source_fails_at_load(source: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CameraConfig(id="cam", source=source)


@pytest.mark.parametrize("bad_id", ["", "has space", "a/b", "x" * 65])
def test_camera_id_charset(bad_id: str) -> None:
    with pytest.raises(ValidationError, match="camera id must be"):
        CameraConfig(id=bad_id, source="synthetic")


def test_defaults_merge_camera_wins() -> None:
    cfg = CamerasConfig.model_validate(
        {
            "defaults": {"fps": 10, "color": True, "reconnect": {"max_s": 5, "jitter": 0}},
            "cameras": [
                {"id": "a", "source": "synthetic"},
                {"id": "b", "source": "synthetic", "fps": None, "reconnect": {"max_s": 9}},
            ],
        }
    )
    a, b = cfg.cameras
    assert (a.fps, a.color, a.reconnect.max_s, a.reconnect.jitter) == (10, True, 5, 0)
    # b's own values win, key by key inside reconnect too.
    assert (b.fps, b.color, b.reconnect.max_s, b.reconnect.jitter) == (None, True, 9, 0)
    assert CamerasConfig.model_validate(cfg.model_dump()) == cfg  # a dump reloads the same


def test_defaults_merge_with_model_instances() -> None:
    from streamproc.config.cameras import CameraDefaults

    cfg = CamerasConfig(
        defaults=CameraDefaults(fps=4), cameras=[CameraConfig(id="a", source="synthetic")]
    )
    assert cfg.cameras[0].fps == 4


def test_duplicate_camera_ids() -> None:
    cams = [{"id": "gate", "source": "synthetic"}, {"id": "gate", "source": "0"}]
    with pytest.raises(ValidationError, match=r"'gate' is used by cameras\[0\] and cameras\[1\]"):
        CamerasConfig.model_validate({"cameras": cams})


def test_setting_a_field_keeps_the_cameras_models() -> None:
    cfg = CamerasConfig.model_validate(
        {"defaults": {"fps": 4}, "cameras": [{"id": "a", "source": "synthetic"}]}
    )
    cfg.wire_version = 1  # validate_assignment runs the model's validators again
    cfg.codec = "jpeg"
    assert isinstance(cfg.cameras[0], CameraConfig) and cfg.cameras[0].fps == 4
    assert [c.id for c in cfg.enabled()] == ["a"]


def test_reconnect_bounds() -> None:
    with pytest.raises(ValidationError, match="max_s >= initial_s"):
        CameraConfig(id="a", source="0", reconnect={"initial_s": 5, "max_s": 1})


# -- file and folder ---------------------------------------------------------------------


def test_file_camera_video(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    write_video(path, 12, fps=25)
    cam = FileCamera("cam", path, source_fps=10, clock=ticking())
    cam.open()
    assert cam.fps == pytest.approx(25)  # from the container, not source_fps
    frames = []
    while (f := cam.read()) is not None:
        frames.append(f)
    cam.close()
    assert len(frames) == 12
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8
    assert [f.index for f in frames] == list(range(12))
    assert frames[5].pts == pytest.approx(5 / 25)
    assert frames[1].timestamp > frames[0].timestamp
    assert abs(int(frames[7].image.mean()) - 70) <= 3  # frames in order (MJPG is lossy)


def test_file_camera_folder_and_loop(tmp_path: Path) -> None:
    write_folder(tmp_path / "frames", 11)
    cam = open_camera(
        CameraConfig(id="f", source=str(tmp_path / "frames"), source_fps=5, loop=True),
        clock=ticking(),
    )
    cam.open()
    assert cam.fps == 5 and not cam.live
    frames = [cam.read() for _ in range(25)]
    assert all(f is not None for f in frames)
    values = [int(f.image[0, 0, 0]) for f in frames if f is not None]
    assert values[:11] == [20 * i for i in range(11)]  # natural order: 2.png before 10.png
    assert values[11:22] == values[:11]  # looped
    pts = [f.pts for f in frames if f is not None]
    assert pts == sorted(pts) and pts[-1] == pytest.approx(24 / 5)  # timeline keeps going


def test_file_camera_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.mp4 does not exist"):
        FileCamera("cam", tmp_path / "nope.mp4").open()
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video")
    with pytest.raises(DataError, match=r"bad\.avi"):
        FileCamera("cam", bad).open()


# -- synthetic ---------------------------------------------------------------------------


def test_synthetic_deterministic_per_seed() -> None:
    def run(seed: int) -> list[Any]:
        cam = SyntheticCamera("s", seed=seed, n_frames=40, clock=ticking())
        cam.open()
        return [cam.read() for _ in range(41)]

    a, b, c = run(3), run(3), run(4)
    assert a[-1] is None  # n_frames ends it
    assert all(
        np.array_equal(x.image, y.image) and x.label == y.label
        for x, y in zip(a[:-1], b[:-1], strict=True)
    )
    assert not np.array_equal(a[10].image, c[10].image)


def test_synthetic_labels_and_anomalies() -> None:
    cam = SyntheticCamera("s", seed=1, fps=10)
    cam.open()
    frames = [cam.read() for _ in range(900)]  # 90 s of scene
    labels = np.array([f.label for f in frames if f is not None])
    assert frames[0] is not None and frames[0].image.shape == (240, 360)
    assert set(np.unique(labels)) == {0, 1}
    assert labels[:40].sum() == 0  # the scene starts normal
    starts = np.flatnonzero(np.diff(labels) == 1)
    assert len(starts) >= 3  # anomalies recur
    assert 0.05 < labels.mean() < 0.5  # but most of the time the scene is normal


def test_open_camera_synthetic_renders_at_resize() -> None:
    cam = open_camera(CameraConfig(id="s", source="synthetic:2", resize=(180, 120)))
    assert isinstance(cam, SyntheticCamera) and cam.seed == 2
    cam.open()
    frame = cam.read()
    assert frame is not None and frame.image.shape == (120, 180)


# -- streams and devices -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "where"),
    [
        ("device:97", "device 97"),
        ("rtsp://user:secret@127.0.0.1:9/none", "rtsp://user:***@127.0.0.1:9/none"),
    ],
)
def test_unreachable_stream_is_a_clear_disconnect(source: str, where: str) -> None:
    cam = open_camera(CameraConfig(id="gate", source=source, timeout_s=1))
    assert isinstance(cam, StreamCamera) and cam.live
    with pytest.raises(
        CameraDisconnected, match=f"camera gate: cannot open {re.escape(where)}"
    ) as err:
        cam.open()
    assert "secret" not in str(err.value)


class FakeCapture:
    """``positions``: what CAP_PROP_POS_MSEC reports after each read (none: 0, as a
    source without presentation times)."""

    def __init__(self, frames: int, positions: list[float] | None = None) -> None:
        self.left, self.released = frames, False
        self.positions, self.reads = positions or [], 0

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        if prop == cv2.CAP_PROP_POS_MSEC:
            return self.positions[self.reads - 1] if self.reads <= len(self.positions) else 0.0
        return 15.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        self.left -= 1
        self.reads += 1
        return (True, np.zeros((4, 6, 3), np.uint8)) if self.left >= 0 else (False, None)

    def release(self) -> None:
        self.released = True


def test_stream_read_failure_raises_disconnected() -> None:
    cap = FakeCapture(2)
    cam = StreamCamera("gate", "rtsp://cam/x", clock=ticking(), capture_factory=lambda t, s: cap)
    cam.open()
    assert cam.fps == 15
    first = cam.read()
    # No presentation times: the first frames are at 0, as an RTSP stream's are.
    assert first is not None and first.pts == 0.0
    assert cam.read() is not None
    with pytest.raises(CameraDisconnected, match="stream ended or connection lost"):
        cam.read()
    cam.close()
    assert cap.released


class StallingCapture:
    """An RTSP capture that delivers ``frames`` frames and then stalls, as cv2's FFmpeg
    backend does when the camera stops sending: ``read`` blocks until the read timeout
    the capture was opened with, then reports no frame. (FakeCapture fails at once.)"""

    def __init__(self, frames: int, timeout_s: float) -> None:
        self.left, self.timeout_s = frames, timeout_s
        self.released = False
        self.timed_out = 0  # reads that blocked for the whole timeout
        self._never = threading.Event()  # no frame ever arrives once stalled

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return 15.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left > 0:
            self.left -= 1
            return True, np.full((4, 6, 3), self.left, np.uint8)
        arrived = self._never.wait(self.timeout_s)
        self.timed_out += not arrived
        return False, None

    def release(self) -> None:
        self.released = True


def test_a_stalled_stream_blocks_until_its_timeout_then_reconnects_and_stops() -> None:
    cfg = CameraConfig(
        id="stall",
        source="rtsp://admin:pw@cam/x",
        timeout_s=0.3,
        reconnect=ReconnectConfig(initial_s=0.01, max_s=0.01),
    )
    sessions = [3, 2, 0]  # frames before each stall; the last session never sends one
    caps: list[StallingCapture] = []

    def connect(target: str | int, timeout_s: float) -> StallingCapture:
        assert target == cfg.source and timeout_s == cfg.timeout_s
        caps.append(
            StallingCapture(sessions[len(caps)] if len(caps) < len(sessions) else 0, timeout_s)
        )
        return caps[-1]

    camera = StreamCamera(cfg.id, cfg.source, timeout_s=cfg.timeout_s, capture_factory=connect)
    got: list[Frame] = []
    runner = CameraRunner(cfg, lambda _cam, frame: got.append(frame), camera=camera)
    runner.start()
    try:
        deadline = time.monotonic() + 60  # ends a hung run only
        while not (len(got) == 5 and len(caps) >= 3 and caps[2].timed_out):
            assert not runner.ended, runner.status()  # a stalled live stream never ends
            assert time.monotonic() < deadline, (len(got), runner.status())
            time.sleep(0.02)
        status = runner.status()
        assert status.state == "reconnecting" and status.reconnects >= 2
        assert status.last_error is not None and "within 0.3 s" in status.last_error
        assert "pw" not in status.last_error  # the URL is redacted
        assert [c.timed_out for c in caps[:2]] == [1, 1]  # each stall waited out its timeout
        assert [f.index for f in got] == [0, 1, 2, 3, 4]  # frame numbers go on across drops
    finally:
        runner.stop()  # most likely while a read is blocked: it ends once the read gives up
    assert runner.join(60), "the capture thread did not end after its blocked read"
    assert runner.status().state == "stopped"
    assert all(c.released for c in caps)
