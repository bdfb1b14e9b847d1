"""Ingest at a break in capture: the old segment's tail is sent, the frames topic carries
the new ``segment``, and no window (nor message) spans the break."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamproc.config.cameras import CameraConfig
from streamproc.runtime.assembly import FrameMemory, Incomplete
from streamproc.runtime.ingest import Ingest
from streamproc.transport.base import Record
from streamproc.transport.wire import WireWindow, decode_message, encode_window
from tests.runtime.test_runtime_ingest import RecordingProducer

CLIP = 10  # frames in the looped clip; frame i has shade 20 * i


@pytest.mark.parametrize("wire_version", [1, 2])
def test_a_looped_file_starts_a_segment_at_each_wrap(tmp_path: Path, wire_version: int) -> None:
    for i in range(CLIP):
        cv2.imwrite(str(tmp_path / f"{i:03d}.png"), np.full((12, 16), 20 * i, np.uint8))
    # The shade steps are cuts in the picture: off, so the wrap is the loop's own mark.
    cam = CameraConfig(
        id=f"brk-loop-{wire_version}",
        source=str(tmp_path),
        loop=True,
        realtime=False,
        cut_level=None,
    )
    producer = RecordingProducer()
    ingest = Ingest(
        [cam], producer, "frames", window_length=4, window_stride=2, wire_version=wire_version
    )
    ingest.start()
    deadline = time.monotonic() + 20
    while len(producer.sent) < 16 and time.monotonic() < deadline:
        time.sleep(0.01)
    ingest.stop()
    messages = [decode_message(value) for _, value, _, _ in producer.sent]
    built = [w for w, _ in producer.windows(cam.id)]
    assert len(built) >= 16
    for w, msg in zip(built, messages, strict=True):
        shades = [int(f[0, 0]) // 20 for f in w.all_frames()]  # source frame indexes
        assert shades == list(range(shades[0], shades[0] + len(shades))), "spans the wrap"
        assert w.segment == msg.segment
    segments = [w.segment for w in built]
    assert segments == sorted(segments) and segments[-1] >= 2  # at least two wraps seen
    for prev, w, msg in zip(built, built[1:], messages[1:], strict=False):
        if w.segment != prev.segment:  # a segment's first window: whole, no context
            assert w.context is None and msg.carried == 0
            assert int(w.frames[0, 0, 0]) == 0  # the clip's first frame
            assert int(prev.frames[-1, 0, 0]) == 20 * (CLIP - 1)  # after the old tail


def test_frames_are_never_assembled_across_a_segment() -> None:
    frames = np.arange(6, dtype=np.uint8)[:, None, None] * np.ones((1, 4, 4), np.uint8)
    first = WireWindow("cam", 0, frames[:4], (0.0, 0.1, 0.2, 0.3), None, "s", 0)
    memory = FrameMemory()
    memory.build(decode_message(encode_window(first, carried=0)), Record("f", 0, 0, None, b"", 0))
    # A message of the next segment that (wrongly) claims carried frames cannot be built
    # from the old segment's frames.
    later = WireWindow("cam", 2, frames[2:6], (0.2, 0.3, 0.4, 0.5), frames[1], "s", 1)
    msg = decode_message(encode_window(later, carried=3))
    assert msg.segment == 1
    with pytest.raises(Incomplete):
        memory.build(msg, Record("f", 0, 1, None, b"", 0))
    # The same message in the same segment is built from the kept frames.
    memory2 = FrameMemory()
    memory2.build(decode_message(encode_window(first, carried=0)), Record("f", 0, 0, None, b"", 0))
    same = WireWindow("cam", 2, frames[2:6], (0.2, 0.3, 0.4, 0.5), frames[1], "s", 0)
    built = memory2.build(
        decode_message(encode_window(same, carried=3)), Record("f", 0, 1, None, b"", 0)
    )
    assert built.window.segment == 0 and np.array_equal(built.window.frames, frames[2:6])
