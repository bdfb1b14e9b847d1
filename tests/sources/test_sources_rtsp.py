"""RTSP as cameras speak it, against GStreamer's real RTSP server (scripts/rtsp_server.py):
a per-camera RTP transport (tcp, udp, auto), errors that name the cause, and a stalled
stream detected within the read timeout over either transport, then a recovery."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamproc.sources import rtsp
from streamproc.sources.camera import CameraDisconnected, StreamCamera
from tests.rtsp import RtspServer, free_port


def test_options_keep_the_users_and_set_the_transport() -> None:
    assert rtsp.options_for("udp", None) == "rtsp_transport;udp"
    user = "rtsp_transport;tcp|stimeout;5000000|buffer_size;1024"
    assert rtsp.options_for("udp", user) == "stimeout;5000000|buffer_size;1024|rtsp_transport;udp"


def test_the_transport_is_set_for_one_open_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rtsp.ENV, "buffer_size;1024")
    seen: list[str | None] = []

    def factory(target: str | int, timeout_s: float) -> object:
        seen.append(os.environ.get(rtsp.ENV))
        return object()

    rtsp.open_with(factory, "rtsp://h/x", 1.0, "tcp")
    assert seen == ["buffer_size;1024|rtsp_transport;tcp"]
    assert os.environ[rtsp.ENV] == "buffer_size;1024"


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rtsp-frames")
    rng = np.random.default_rng(0)
    for i in range(30):
        img = np.full((96, 128, 3), 60 + 4 * i, np.uint8)
        img += rng.integers(0, 8, img.shape, dtype=np.uint8)
        cv2.imwrite(str(out / f"{i:03d}.jpg"), img)
    return out


@pytest.fixture
def server(
    request: pytest.FixtureRequest, frames: Path, rtsp_server_ok: None
) -> Iterator[RtspServer]:
    transport, auth = request.param
    srv = RtspServer(frames, transport=transport, auth=auth)
    srv.start()
    yield srv
    if srv.proc is not None and srv.proc.poll() is None:
        srv.proc.send_signal(signal.SIGCONT)
    srv.stop()


def camera(url: str, transport: str, timeout_s: float = 5.0) -> StreamCamera:
    return StreamCamera("gate", url, timeout_s=timeout_s, rtsp_transport=transport)  # type: ignore[arg-type]


pytestmark = pytest.mark.rtsp


def opened(cam: StreamCamera) -> StreamCamera:
    """``cam`` opened, allowing two failures: GStreamer's server tears its shared stream
    down when the last client leaves and answers the next one 503 meanwhile (a camera's
    runner reconnects with backoff for the same reason)."""
    for attempt in range(3):
        try:
            cam.open()
            return cam
        except CameraDisconnected:
            if attempt == 2:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("server", [("udp", None)], indirect=True)
def test_a_udp_only_camera(server: RtspServer) -> None:
    for asked, used in (("udp", "udp"), ("auto", "udp")):
        cam = opened(camera(server.url, asked))
        assert cam.transport == used and cam.read().image.shape == (96, 128, 3)
        cam.close()
    with pytest.raises(CameraDisconnected) as err:
        camera(server.url, "tcp").open()
    assert "accepted no RTP transport tried (TCP)" in str(err.value)
    assert "rtsp_transport" in str(err.value)


@pytest.mark.parametrize("server", [("tcp", None)], indirect=True)
def test_a_tcp_only_camera(server: RtspServer) -> None:
    cam = opened(camera(server.url, "auto"))
    assert cam.transport == "tcp" and cam.read() is not None
    cam.close()
    with pytest.raises(CameraDisconnected, match=r"accepted no RTP transport tried \(UDP\)"):
        camera(server.url, "udp").open()


@pytest.mark.parametrize("server", [("any", "alice:s3cret")], indirect=True)
def test_errors_name_the_cause_and_never_the_password(server: RtspServer) -> None:
    with_creds = server.url.replace("rtsp://", "rtsp://alice:wrong-pw@")
    with pytest.raises(CameraDisconnected) as err:
        camera(with_creds, "auto").open()
    assert "refused the URL's credentials (401)" in str(err.value)
    assert "wrong-pw" not in str(err.value)
    with pytest.raises(CameraDisconnected, match=r"wants credentials \(401\)"):
        camera(server.url, "auto").open()
    good = server.url.replace("rtsp://", "rtsp://alice:s3cret@")
    with pytest.raises(CameraDisconnected, match=r"no stream at /nope \(404\)"):
        camera(good.replace("/cam", "/nope"), "auto").open()
    cam = opened(camera(good, "auto"))
    assert cam.read() is not None
    cam.close()


def test_nothing_listening_is_named(rtsp_server_ok: None) -> None:
    with pytest.raises(CameraDisconnected, match=r"nothing listens at 127\.0\.0\.1"):
        camera(f"rtsp://127.0.0.1:{free_port()}/cam", "auto", timeout_s=2).open()


@pytest.mark.parametrize("server", [("tcp", None), ("udp", None)], indirect=True)
def test_a_stalled_stream_is_detected_within_the_timeout_and_recovers(
    server: RtspServer,
) -> None:
    """The server frozen (SIGSTOP: its connections open, no packets) is a camera whose
    encoder died: OpenCV hands out stale frames at each read timeout; none may pass."""
    cam = opened(camera(server.url, server.transport, timeout_s=2.0))
    for _ in range(12):
        cam.read()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    t0 = time.monotonic()
    # Frames already buffered may still come (well within the timeout); then it must fail.
    with pytest.raises(CameraDisconnected, match=r"stalled|no frame"):
        for _ in range(50):
            frame = cam.read()
            assert time.monotonic() - t0 < 4.0, "a frame came after the stream stalled"
            assert frame is not None
    assert time.monotonic() - t0 < 4.0  # detected within about one read timeout
    server.proc.send_signal(signal.SIGCONT)
    opened(cam)  # what the runner's reconnect does
    assert cam.read() is not None and cam.transport == server.transport
    cam.close()
