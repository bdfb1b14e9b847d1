"""The real RTSP path: GStreamer's RTSP server loops normal footage as H.264, and the
embedded pipeline (ingest, worker, decisions) watches it through a start, loop wraps, an
outage longer than the read timeout and the server's return. No window may span the
wrap or the outage, and nothing alerts.

Each clip frame carries its own index in its brightness (2 gray levels a frame), so the
frames of every window can be told apart after H.264 and checked to be consecutive."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig, ReconnectConfig
from streamproc.config.state import EmbeddedStateConfig
from streamproc.config.transport import TopicsConfig
from streamproc.metrics import REGISTRY
from streamproc.pipeline import Pipeline
from streamproc.sources.frames import read_frames
from streamproc.transport.memory import MemoryTransport
from tests.helpers import read_windows
from tests.rtsp import RtspServer

pytestmark = [pytest.mark.rtsp, pytest.mark.slow]
CAMERA = "rtsp-cam"
STEP = 2  # gray levels of brightness a clip frame adds


def footage(src: Path, out: Path) -> list[float]:
    """The normal training clip ``src`` at 4x its size, frame i brightened by STEP * i, as
    JPEGs in ``out``; the mean gray level of each frame (its fingerprint)."""
    out.mkdir()
    means = []
    for i, frame in enumerate(read_frames(src)):
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        big = cv2.resize(
            gray, (gray.shape[1] * 4, gray.shape[0] * 4), interpolation=cv2.INTER_CUBIC
        )
        img = np.clip(big.astype(np.int16) + STEP * i, 0, 255).astype(np.uint8)
        cv2.imwrite(str(out / f"{i:03d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        means.append(float(img.mean()))
    return means


def clip_index(frame: np.ndarray, means: list[float]) -> int:
    return int(np.argmin(np.abs(np.asarray(means) - float(frame.mean()))))


def breaks(reason: str) -> float:
    labels = {"camera": CAMERA, "reason": reason}
    return REGISTRY.get_sample_value("streamproc_capture_breaks_total", labels) or 0.0


def test_rtsp_start_wrap_outage_and_return_give_no_incident(
    rtsp_server_ok: None, tmp_path: Path, synthetic_dataset: Path, tiny_artifact: Path
) -> None:
    means = footage(synthetic_dataset / "train" / "00", tmp_path / "clip")
    server = RtspServer(tmp_path / "clip", fps=10)
    cfg = StreamprocConfig()
    cfg.state = EmbeddedStateConfig(path=str(tmp_path / "state.db"))
    cfg.topics = TopicsConfig(publish_scores=True)
    cfg.serving.mode = "local"
    cfg.metrics.port = None
    cfg.cameras.cameras = [
        CameraConfig(
            id=CAMERA,
            source=server.url,
            fps=10,
            timeout_s=2,
            reconnect=ReconnectConfig(initial_s=0.5, max_s=1, jitter=0),
        )
    ]
    transport = MemoryTransport()
    pipe = Pipeline(cfg, tiny_artifact, transport=transport)
    server.start()
    seen: dict[str, list[dict]] = {"scores": [], "alerts": []}
    frames_topic: list[bytes] = []
    try:
        pipe.start()
        collector = transport.consumer(
            [cfg.topics.frames, cfg.topics.scores, cfg.topics.alerts], "test-collector"
        )

        def collect_until(done, what: str, timeout_s: float = 40) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + timeout_s
            while not done():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                for r in collector.poll(1000, 0.2):
                    if r.topic == cfg.topics.frames:
                        frames_topic.append(r.value)
                    else:
                        key = "scores" if r.topic == cfg.topics.scores else "alerts"
                        seen[key].append(json.loads(r.value))

        # The start and at least one wrap of the 40-frame loop (a cut in the picture).
        collect_until(lambda: breaks("cut") >= 1 and len(seen["scores"]) >= 50, "a wrap")
        # An outage longer than the read timeout (2 s), then the server is back.
        server.stop()
        time.sleep(4)  # the fault itself: twice the read timeout without a frame
        server.start()
        collect_until(lambda: breaks("reconnect") >= 1, "a reconnect")
        after = len(seen["scores"])
        collect_until(lambda: len(seen["scores"]) >= after + 40, "frames after the return")
    finally:
        pipe.stop()
        server.stop()

    windows = read_windows(frames_topic)
    segments = sorted({w.segment for w in windows})
    assert len(segments) >= 3, segments  # the start, a wrap, the return at least
    gap = cfg.cameras.cameras[0].max_gap_intervals
    for w in windows:  # every window holds frames of one pass, none more than a gap apart
        idx = [clip_index(f, means) for f in w.all_frames()]
        steps = np.diff(idx)  # 0: the server repeats a frame while it loops (a freeze)
        assert ((steps >= 0) & (steps <= gap)).all(), (w.seq, w.segment, idx)
    assert [a for a in seen["alerts"] if a["kind"] == "start"] == []
