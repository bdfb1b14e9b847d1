"""Ingest positions: a restarted ingest continues a finite camera after the last window
the broker acknowledged, in the same session, exactly as an unbroken run would have."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig
from streamproc.config.state import EmbeddedStateConfig
from streamproc.config.transport import KafkaTransportConfig
from streamproc.pipeline import Pipeline
from streamproc.runtime.ingest import Ingest
from streamproc.runtime.positions import Positions, fingerprint
from streamproc.threshold import EmbeddedStateStore, IngestPosition, StateStoreError
from streamproc.transport.wire import WireWindow
from streamproc.windowing import window_starts
from tests.fakes import RecordingProducer
from tests.runtime.test_runtime_ingest import run_to_end, synthetic_factory


def killed_producer(acks: int) -> RecordingProducer:
    """Acknowledges the first ``acks`` windows; the rest were in flight at a kill."""
    producer = RecordingProducer()
    producer.acks = acks
    return producer


@pytest.fixture
def footage(tmp_path: Path) -> Path:
    """A frame folder of 37 frames, each a different shade, so frames are told apart (a
    step between shades is a cut in the picture: the cameras here turn cut_level off)."""
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(37):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((12, 16), 5 * i, np.uint8))
    return folder


@pytest.fixture
def store(tmp_path: Path) -> EmbeddedStateStore:
    return EmbeddedStateStore(EmbeddedStateConfig(path=str(tmp_path / "state.db")))


def ingest_of(
    cam: CameraConfig, producer: RecordingProducer, store: EmbeddedStateStore | None, **kw: Any
) -> Ingest:
    positions = None if store is None else (lambda: Positions(store, interval_s=0.05))
    return Ingest(
        [cam],
        producer,
        "frames",
        window_length=kw.pop("length", 8),
        window_stride=kw.pop("stride", 4),
        positions=positions,
        **kw,
    )


def windows(producer: RecordingProducer, camera: str) -> list[WireWindow]:
    return [w for w, _ in producer.windows(camera)]


def same(a: list[WireWindow], b: list[WireWindow]) -> bool:
    """The same windows: sequence numbers, frames and context frames (not capture times)."""

    def key(w: WireWindow) -> tuple[int, bytes, bytes | None]:
        return w.seq, w.frames.tobytes(), None if w.context is None else w.context.tobytes()

    return [key(w) for w in a] == [key(w) for w in b]


def run(ingest: Ingest) -> None:
    run_to_end(ingest)  # and stop: the flush gives the broker's answers


@pytest.mark.parametrize(
    "length,stride,fps", [(8, 4, None), (4, 3, 5.0), (3, 5, None), (5, 1, None)]
)
def test_a_restarted_ingest_continues_after_the_last_acknowledged_window(
    footage: Path, store: EmbeddedStateStore, length: int, stride: int, fps: float | None
) -> None:
    cam = CameraConfig(id="pos-cam", source=str(footage), realtime=False, cut_level=None, fps=fps)
    reference = RecordingProducer()
    run(ingest_of(cam, reference, None, length=length, stride=stride))
    whole = windows(reference, "pos-cam")
    assert len(whole) >= 4

    for acked in (0, 1, len(whole) // 2, len(whole) - 1):
        store.delete("pos-cam")
        first = killed_producer(acked)
        run(ingest_of(cam, first, store, length=length, stride=stride))
        assert same(windows(first, "pos-cam"), whole)  # all sent, only some acknowledged
        stream = windows(first, "pos-cam")[0].stream

        second = RecordingProducer()
        resumed = ingest_of(cam, second, store, length=length, stride=stride)
        run(resumed)
        again = windows(second, "pos-cam")
        # Exactly the windows after the acknowledged ones, in the same session.
        assert same(again, whole[acked:]), acked
        assert {w.stream for w in again} == {stream}
        pos = store.get_position("pos-cam")
        assert pos is not None and pos.finished and pos.stream == stream


def test_a_finished_camera_is_not_sent_again_unless_from_start(
    footage: Path, store: EmbeddedStateStore, caplog: pytest.LogCaptureFixture
) -> None:
    cam = CameraConfig(id="pos-done", source=str(footage), realtime=False, cut_level=None)
    first = RecordingProducer()
    run(ingest_of(cam, first, store))
    stream = windows(first, "pos-done")[0].stream

    caplog.set_level(logging.INFO, logger="streamproc.runtime.ingest")
    second = RecordingProducer()
    again = ingest_of(cam, second, store)
    assert again.runners == {} and again.statuses()["pos-done"].state == "finished"
    run(again)
    assert second.sent == []
    assert "--from-start" in caplog.text  # says how to replay it

    third = RecordingProducer()
    run(ingest_of(cam, third, store, from_start=True))
    replay = windows(third, "pos-done")
    assert same(replay, windows(first, "pos-done"))
    assert replay[0].stream != stream  # a new session: workers take it as a new stream


def test_a_changed_source_or_windowing_starts_afresh(
    footage: Path, store: EmbeddedStateStore
) -> None:
    cam = CameraConfig(id="pos-change", source=str(footage), realtime=False, cut_level=None)
    run(ingest_of(cam, killed_producer(2), store))
    changed = RecordingProducer()
    run(ingest_of(cam, changed, store, stride=2))  # other windows: the position is void
    sent = windows(changed, "pos-change")
    assert [w.seq for w in sent] == window_starts(37, 8, 2)
    assert fingerprint(cam, 8, 4) != fingerprint(cam, 8, 2)
    assert fingerprint(cam, 8, 4) != fingerprint(cam.model_copy(update={"fps": 5.0}), 8, 4)
    before = fingerprint(cam, 8, 4)
    cv2.imwrite(str(footage / "037.png"), np.zeros((12, 16), np.uint8))  # footage added
    assert fingerprint(cam, 8, 4) != before


def test_endless_cameras_keep_no_position(store: EmbeddedStateStore) -> None:
    cam = CameraConfig(id="pos-live", source="synthetic", realtime=False)
    opened: list[Positions] = []

    def positions() -> Positions:
        opened.append(Positions(store))
        return opened[-1]

    producer = RecordingProducer()
    ingest = Ingest(
        [cam],
        producer,
        "frames",
        window_length=4,
        window_stride=2,
        camera_factory=synthetic_factory(None),
        positions=positions,
    )
    assert ingest.positions is None and opened == []  # the store is not even opened
    assert store.get_position("pos-live") is None


class FailingStore(EmbeddedStateStore):
    down = False

    def set_position(self, camera: str, position: IngestPosition) -> None:
        if self.down:
            raise StateStoreError("redis is down (test)")
        super().set_position(camera, position)


def test_a_failed_position_write_is_retried_and_never_stops_the_camera(
    footage: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FailingStore(EmbeddedStateConfig(path=str(tmp_path / "flaky.db")))
    positions = Positions(flaky)
    positions.begin("cam", IngestPosition(stream="s", fingerprint="f"))
    flaky.down = True
    positions.acked("cam", 7, 0, 0)
    assert positions.flush() is False
    assert "could not write the ingest position of camera cam" in caplog.text
    stored = flaky.get_position("cam")
    assert stored is not None and stored.last_seq == -1
    flaky.down = False
    positions.acked("cam", 11, 3, 3)
    assert positions.flush() is True
    stored = flaky.get_position("cam")
    assert stored is not None and (stored.last_seq, stored.resume_seq) == (11, 3)


def test_acknowledgements_only_move_forward_and_the_end_finishes(
    store: EmbeddedStateStore,
) -> None:
    positions = Positions(store)
    positions.begin("cam", IngestPosition(stream="s", fingerprint="f"))
    positions.acked("cam", 11, 3, 6)
    positions.acked("cam", 7, 0, 0)  # late and older: ignored
    positions.ended("cam", 15)
    positions.flush()
    pos = store.get_position("cam")
    assert pos is not None and (pos.last_seq, pos.resume_index, pos.finished) == (11, 6, False)
    positions.acked("cam", 15, 7, 14)
    positions.flush()
    pos = store.get_position("cam")
    assert pos is not None and pos.finished
    positions.acked("other", 3, 0, 0)  # a camera never begun (live) is not tracked
    positions.flush()
    assert store.get_position("other") is None


def test_only_a_durable_transport_resumes(tmp_path: Path) -> None:
    cfg = StreamprocConfig()  # the embedded broker: its windows die with the process
    assert not Pipeline(cfg, tmp_path)._resumable()
    cfg.transport = KafkaTransportConfig(bootstrap_servers="localhost:9092")
    assert Pipeline(cfg, tmp_path)._resumable()
    cfg.cameras.resume = False
    assert not Pipeline(cfg, tmp_path)._resumable()
