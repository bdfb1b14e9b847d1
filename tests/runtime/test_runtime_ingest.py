"""Ingest: cameras -> windows -> wire messages on the frames topic, with a recording producer."""

from __future__ import annotations

import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from streamproc.config.cameras import CameraConfig
from streamproc.errors import ConfigError
from streamproc.metrics import REGISTRY
from streamproc.runtime import ingest as ingest_mod
from streamproc.runtime.ingest import CameraFactory, Ingest
from streamproc.sources.camera import CameraSource, Clock, SyntheticCamera
from streamproc.transport.wire import decode_message
from streamproc.windowing.windows import window_starts
from tests.fakes import RecordingProducer


def synthetic_factory(n_frames: int | None) -> CameraFactory:
    def make(cfg: CameraConfig, clock: Clock) -> CameraSource:
        seed = cfg.spec.seed or 0
        return SyntheticCamera(
            cfg.id, seed=seed, fps=cfg.source_fps, n_frames=n_frames, clock=clock
        )

    return make


def run_to_end(ingest: Ingest, stop: bool = True) -> None:
    """Run every camera to its end, then stop (which flushes: the broker's answers
    arrive), as ``streamproc ingest`` does."""
    ingest.start()
    assert ingest.join(20), ingest.statuses()
    assert ingest.finished
    if stop:
        assert ingest.stop()


def one_camera(
    producer: RecordingProducer, camera: str, frames: int, length: int = 8, **kw: Any
) -> Ingest:
    """Ingest of one synthetic 360x240 camera of ``frames`` frames, windows of ``length``
    with stride 4."""
    cam = CameraConfig(id=camera, source="synthetic", realtime=False)
    return Ingest(
        [cam],
        producer,
        "frames",
        window_length=length,
        window_stride=4,
        camera_factory=synthetic_factory(frames),
        **kw,
    )


def test_windows_per_camera_are_contiguous_keyed_and_carry_context(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(20):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((16, 24, 3), 10 * i, np.uint8))
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 20, (64, 48))
    for i in range(23):
        writer.write(np.full((48, 64, 3), 8 * i, np.uint8))
    writer.release()
    cams = [
        # Each frame a brightness step further than a cut (cut_level): no cut detection.
        CameraConfig(id="ing-folder", source=str(folder), realtime=False, cut_level=None),
        CameraConfig(id="ing-video", source=str(video), realtime=False, cut_level=None),
        CameraConfig(id="ing-off", source="synthetic", enabled=False),
    ]
    producer = RecordingProducer()
    ingest = Ingest(cams, producer, "frames", window_length=4, window_stride=2)
    assert set(ingest.runners) == {"ing-folder", "ing-video"}  # disabled cameras are not run
    run_to_end(ingest)

    assert {topic for topic, *_ in producer.sent} == {"frames"}
    for camera, n, shape in (("ing-folder", 20, (16, 24)), ("ing-video", 23, (48, 64))):
        windows = producer.windows(camera)
        # Stride-aligned windows, then the end-aligned tail: the offline window_starts.
        assert [w.seq for w, _ in windows] == window_starts(n, 4, 2)
        assert all(h["camera"] == camera.encode() and w.camera == camera for w, h in windows)
        assert all(w.frames.shape == (4, *shape) for w, _ in windows)  # gray by default
        first, _ = windows[0]
        assert first.context is None
        for (prev, _), (cur, _) in itertools.pairwise(windows):
            assert cur.context is not None
            step = cur.seq - prev.seq  # the stride, or less for the end-aligned tail
            np.testing.assert_array_equal(cur.context, prev.frames[step - 1])  # frame seq - 1
            assert cur.timestamps[0] == prev.timestamps[step]
        samples = REGISTRY.get_sample_value("streamproc_windows_sent_total", {"camera": camera})
        assert samples == len(windows)
        assert ingest.statuses()[camera].state == "finished"


def test_sampled_frames_are_numbered_without_gaps() -> None:
    producer = RecordingProducer()
    cam = CameraConfig(id="ing-fps", source="synthetic:1", fps=5, source_fps=10, realtime=False)
    ingest = Ingest(
        [cam],
        producer,
        "frames",
        window_length=4,
        window_stride=2,
        camera_factory=synthetic_factory(40),
    )
    run_to_end(ingest)
    windows = [w for w, _ in producer.windows("ing-fps")]
    assert [w.seq for w in windows] == list(range(0, 20 - 4 + 1, 2))  # 40 frames at 10 -> 20
    assert ingest.statuses()["ing-fps"].dropped == 20


def test_raw_windows_round_trip_with_labels() -> None:
    producer = RecordingProducer()
    cam = CameraConfig(id="ing-raw", source="synthetic:5", realtime=False)
    ingest = Ingest(
        [cam],
        producer,
        "frames",
        window_length=8,
        window_stride=4,
        camera_factory=synthetic_factory(300),
    )
    run_to_end(ingest)
    reference = SyntheticCamera("ref", seed=5, n_frames=300)
    reference.open()
    truth = list(iter(reference.read, None))
    windows = producer.windows("ing-raw")
    assert len(windows) == (300 - 8) // 4 + 1
    saw_anomaly = False
    for w, headers in windows:
        np.testing.assert_array_equal(
            w.frames, np.stack([f.image for f in truth[w.seq : w.seq + 8]])
        )
        labels = json.loads(headers["labels"])
        assert labels == [f.label for f in truth[w.seq : w.seq + 8]]
        saw_anomaly |= 1 in labels
    assert saw_anomaly


def test_jpeg_fallback_when_raw_exceeds_the_limit(caplog: pytest.LogCaptureFixture) -> None:
    producer = RecordingProducer()
    ingest = one_camera(producer, "ing-jpeg", 40, max_message_bytes=300_000)
    with caplog.at_level(logging.INFO, logger="streamproc.runtime.ingest"):
        run_to_end(ingest)
    assert len(producer.sent) == 9
    for _, value, _, _ in producer.sent:
        assert len(value) <= 300_000 and b'"encoding":"jpeg"' in value[:2000]
    for w, _ in producer.windows("ing-jpeg"):
        assert w.frames.shape == (8, 240, 360) and w.frames.dtype == np.uint8
    switched = [r for r in caplog.records if "sending JPEG" in r.getMessage()]
    assert len(switched) == 1 and "ing-jpeg" in switched[0].getMessage()


def test_window_too_large_even_as_jpeg_is_dropped_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = RecordingProducer()
    ingest = one_camera(producer, "ing-huge", 20, length=4, max_message_bytes=2000)
    with caplog.at_level(logging.INFO, logger="streamproc.runtime.ingest"):
        run_to_end(ingest)
    assert producer.sent == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "resize" in errors[0].getMessage()


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("codec", ["raw", "jpeg"])
def test_the_configured_codec_from_the_first_window_and_its_bytes_counted(codec: str) -> None:
    producer = RecordingProducer()
    before = _sample("streamproc_frames_topic_bytes_total", codec=codec)
    ingest = one_camera(
        producer, f"ing-codec-{codec}", 40, max_message_bytes=10_000_000, codec=codec,
        jpeg_quality=80,
    )  # fmt: skip
    run_to_end(ingest)
    assert len(producer.sent) == 9
    for _, value, _, _ in producer.sent:
        assert f'"encoding":"{codec}"'.encode() in value[:2000]
    for w, _ in producer.windows(f"ing-codec-{codec}"):
        assert w.frames.shape == (8, 240, 360)
    sent = sum(
        len(v) + len(k or b"") + sum(len(a) + len(b) for a, b in h) for _, v, k, h in producer.sent
    )
    assert _sample("streamproc_frames_topic_bytes_total", codec=codec) - before == sent


def test_raw_codec_drops_and_counts_a_window_over_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = RecordingProducer()
    # A raw 8-frame window is 0.7 MB; as JPEG it would fit.
    ingest = one_camera(producer, "ing-raw-only", 40, max_message_bytes=300_000, codec="raw")
    with caplog.at_level(logging.INFO, logger="streamproc.runtime.ingest"):
        run_to_end(ingest)
    assert producer.sent == []
    assert _sample("streamproc_windows_too_large_total", camera="ing-raw-only") == 9
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "cameras.codec" in errors[0].getMessage()


def test_stop_ends_endless_cameras_and_flushes() -> None:
    producer = RecordingProducer()
    cams = [CameraConfig(id=f"ing-live{i}", source="synthetic", realtime=False) for i in range(2)]
    ingest = Ingest(
        cams,
        producer,
        "frames",
        window_length=4,
        window_stride=2,
        camera_factory=synthetic_factory(None),
    )
    ingest.start()
    deadline = time.monotonic() + 5
    keys = [b"ing-live0", b"ing-live1"]
    while time.monotonic() < deadline and not all(
        sum(key == k for _, _, key, _ in producer.sent) >= 2 for k in keys
    ):
        time.sleep(0.01)
    assert not ingest.finished
    assert ingest.stop(timeout_s=2)
    assert ingest.finished and producer.flushes == 1
    assert {s.state for s in ingest.statuses().values()} == {"stopped"}
    assert {key for _, _, key, _ in producer.sent} == set(keys)


def test_bad_camera_lists_are_config_errors() -> None:
    producer = RecordingProducer()
    off = CameraConfig(id="a", source="synthetic", enabled=False)
    with pytest.raises(ConfigError, match="no enabled camera"):
        Ingest([off], producer, "frames", window_length=4, window_stride=2)
    twice = [CameraConfig(id="a", source="synthetic")] * 2
    with pytest.raises(ConfigError, match=r"these repeat: \['a'\]"):
        Ingest(twice, producer, "frames", window_length=4, window_stride=2)


def test_windows_count_as_sent_only_when_delivered() -> None:
    producer = RecordingProducer()
    producer.fail = ConnectionError("broker down")
    cams = [CameraConfig(id="ing-undelivered", source="synthetic", realtime=False)]
    ingest = Ingest(
        cams,
        producer,
        "frames",
        window_length=4,
        window_stride=4,
        camera_factory=synthetic_factory(n_frames=12),
    )
    run_to_end(ingest, stop=False)
    labels = {"camera": "ing-undelivered"}
    assert len(producer.sent) == 3
    # Sent, but the broker has not answered yet: neither sent nor failed.
    assert not REGISTRY.get_sample_value("streamproc_windows_delivery_failed_total", labels)
    assert ingest.stop()  # flushes: the answers arrive
    assert producer.delivered == 3
    assert not REGISTRY.get_sample_value("streamproc_windows_sent_total", labels)
    failed = REGISTRY.get_sample_value("streamproc_windows_delivery_failed_total", labels)
    assert failed == 3


def test_windows_count_as_sent_once_acknowledged_not_once_sent() -> None:
    producer = RecordingProducer()
    cams = [CameraConfig(id="ing-acked", source="synthetic", realtime=False)]
    ingest = Ingest(
        cams,
        producer,
        "frames",
        window_length=4,
        window_stride=4,
        camera_factory=synthetic_factory(n_frames=12),
    )
    run_to_end(ingest, stop=False)
    labels = {"camera": "ing-acked"}
    assert not REGISTRY.get_sample_value("streamproc_windows_sent_total", labels)
    assert ingest.stop()
    assert REGISTRY.get_sample_value("streamproc_windows_sent_total", labels) == 3


# Wire version 2: each frame crosses the wire once.


def _parts(producer: RecordingProducer) -> list[tuple[int, int, int]]:
    """(version, carried, frames in the payload) of each message sent."""
    msgs = [decode_message(value) for _, value, _, _ in producer.sent]
    return [(m.version, m.carried, len(m.frames)) for m in msgs]


def test_each_frame_is_sent_once_with_wire_version_2() -> None:
    producer = RecordingProducer()
    run_to_end(one_camera(producer, "ing-once", 40))
    parts = _parts(producer)
    # Windows of 8 with stride 4: the first whole, each later one carries its context
    # frame and the 4 it shares with the one before.
    assert parts == [(2, 0, 8)] + [(2, 5, 4)] * 8
    assert sum(n for _, _, n in parts) == 40
    windows = producer.windows("ing-once")
    assert [w.seq for w, _ in windows] == list(range(0, 33, 4))


def test_wire_version_1_sends_whole_windows() -> None:
    producer = RecordingProducer()
    run_to_end(one_camera(producer, "ing-v1", 40, wire_version=1))
    assert _parts(producer) == [(1, 0, 8)] + [(1, 0, 9)] * 8


class FailingProducer(RecordingProducer):
    """Reports the delivery of the ``nth`` send as failed, one send later (``lag`` 1)."""

    def __init__(self, nth: int) -> None:
        super().__init__(lag=1)
        self.nth = nth

    def send(self, topic, value, key=None, headers=None, on_delivery=None):  # type: ignore[no-untyped-def]
        self.fail = RuntimeError("broker down (test)") if len(self.sent) == self.nth else None
        super().send(topic, value, key, headers, on_delivery)


def test_after_an_undelivered_window_the_next_is_sent_whole() -> None:
    producer = FailingProducer(nth=3)
    run_to_end(one_camera(producer, "ing-fail", 40))
    carried = [c for _, c, _ in _parts(producer)]
    # The fourth send's failure is reported while the fifth is sent (the broker answers
    # after the sender went on), so the fifth still carries frames and the sixth is whole.
    assert carried == [0, 5, 5, 5, 5, 0, 5, 5, 5]


def test_after_a_silence_the_next_window_is_sent_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_mod, "WHOLE_AFTER_S", -1.0)  # every gap is too long
    producer = RecordingProducer()
    run_to_end(one_camera(producer, "ing-gap", 24))
    assert [c for _, c, _ in _parts(producer)] == [0] * 5
