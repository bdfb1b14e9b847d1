"""Building whole windows from wire-version-2 messages: what is kept, what pins commits,
what is forgotten, and what cannot be built."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.runtime import assembly
from streamproc.runtime.assembly import FrameMemory, Incomplete
from streamproc.transport.base import Record
from streamproc.transport.wire import WireMessage, WireWindow, decode_message, encode_window

T, STRIDE = 4, 2  # windows of 4 with stride 2, a context frame from the second on
FRAMES = np.arange(40 * 6 * 8, dtype=np.int64).reshape(40, 6, 8).astype(np.uint8)


def message(k: int, camera: str = "cam", stream: str = "s1", carried: int | None = -1) -> bytes:
    """The k-th window of a camera as ingest sends it with wire version 2 (``carried`` -1:
    what ingest would carry; None: version 1)."""
    seq = k * STRIDE
    ctx = FRAMES[seq - 1] if k else None
    w = WireWindow(camera, seq, FRAMES[seq : seq + T], tuple(range(seq, seq + T)), ctx, stream)
    if carried == -1:
        carried = 0 if k == 0 else T + 1 - STRIDE  # context + the overlap
    return encode_window(w, carried=carried)


def rec(value: bytes, offset: int, ts_ms: int = 0, partition: int = 0) -> Record:
    return Record("frames", partition, offset, None, value, ts_ms)


def build(memory: FrameMemory, value: bytes, offset: int, **kw: int) -> tuple[WireWindow, int]:
    built = memory.build(decode_message(value), rec(value, offset, **kw))
    return built.window, built.since


def test_a_camera_s_windows_are_built_exactly_and_pin_the_oldest_record_still_needed() -> None:
    memory = FrameMemory()
    for k in range(10):
        w, since = build(memory, message(k), offset=k)
        assert w.seq == k * STRIDE
        np.testing.assert_array_equal(w.frames, FRAMES[w.seq : w.seq + T])
        if k:
            assert w.context is not None
            np.testing.assert_array_equal(w.context, FRAMES[w.seq - 1])
            # context + overlap came in the two previous messages (stride 2, length 4)
            assert since == max(0, k - 2)
        # Kept: frames from the window's first on, which came in this record and the last
        pins = memory.pins()
        assert pins == {("frames", 0): max(0, k - 1)}
        assert memory.nbytes == T * FRAMES[0].nbytes


def test_a_window_missing_frames_is_incomplete_but_its_own_frames_are_kept() -> None:
    memory = FrameMemory()
    # A worker starting at message 5 (after a restart): 5 and 6 cannot be built ...
    for k in (5, 6):
        with pytest.raises(Incomplete, match=f"camera cam window {2 * k} .*frames"):
            build(memory, message(k), offset=k)
    # ... but from 7 on every window can, from the frames of 5 and 6.
    for k in range(7, 10):
        w, _ = build(memory, message(k), offset=k)
        np.testing.assert_array_equal(w.all_frames(), FRAMES[2 * k - 1 : 2 * k + T])


def test_a_new_session_or_another_frame_size_does_not_use_old_frames() -> None:
    memory = FrameMemory()
    build(memory, message(0), offset=0)
    with pytest.raises(Incomplete):
        build(memory, message(1, stream="s2"), offset=1)
    other = np.zeros((T + 1, 3, 3), np.uint8)
    w = WireWindow("cam", 5, other[1:], (5.0, 6.0, 7.0, 8.0), other[0], "s2")
    with pytest.raises(Incomplete, match="another size"):  # frames 4 and 5 are 6x8
        memory.build(decode_message(encode_window(w, carried=2)), rec(b"", 2))


def test_version_1_windows_are_built_and_not_kept() -> None:
    memory = FrameMemory()
    for k in range(3):
        w, since = build(memory, message(k, carried=None), offset=k)
        assert since == k and w.seq == 2 * k
    assert len(memory) == 0 and memory.pins() == {}


def test_cameras_are_kept_apart_and_each_pins_its_own_partition() -> None:
    memory = FrameMemory()
    build(memory, message(0, "a"), offset=0, partition=0)
    build(memory, message(0, "b"), offset=0, partition=1)
    build(memory, message(1, "a"), offset=1, partition=0)
    build(memory, message(1, "b"), offset=7, partition=1)
    w, _ = build(memory, message(2, "a"), offset=2, partition=0)
    assert w.camera == "a"
    assert memory.pins() == {("frames", 0): 1, ("frames", 1): 0}  # b still needs 0's frames


def test_a_silent_camera_is_forgotten_so_it_no_longer_holds_its_partition() -> None:
    memory = FrameMemory()
    forget_ms = int(assembly.FORGET_AFTER_S * 1000)
    build(memory, message(0, "quiet"), offset=0, ts_ms=1000)
    build(memory, message(0, "busy"), offset=1, ts_ms=1000)
    build(memory, message(1, "busy"), offset=2, ts_ms=1000 + forget_ms)
    assert memory.pins() == {("frames", 0): 0}  # not yet: exactly FORGET_AFTER_S
    build(memory, message(2, "busy"), offset=3, ts_ms=1001 + forget_ms)
    assert memory.pins() == {("frames", 0): 2}
    assert len(memory) == 1


def test_cameras_of_partitions_no_longer_owned_are_forgotten() -> None:
    memory = FrameMemory()
    build(memory, message(0, "a"), offset=0, partition=0)
    build(memory, message(0, "b"), offset=0, partition=1)
    assert memory.pins({("frames", 1)}) == {("frames", 1): 0}
    with pytest.raises(Incomplete):
        build(memory, message(1, "a"), offset=1, partition=0)


def test_over_its_budget_the_least_recently_seen_cameras_are_forgotten() -> None:
    window_bytes = T * FRAMES[0].nbytes
    memory = FrameMemory(max_bytes=2 * window_bytes)
    for camera in ("a", "b", "c"):
        build(memory, message(0, camera), offset=0)
    assert len(memory) == 2 and memory.evicted == 1 and memory.nbytes <= 2 * window_bytes
    with pytest.raises(Incomplete):
        build(memory, message(1, "a"), offset=1)
    build(memory, message(1, "c"), offset=2)  # the recent ones are still whole


def test_a_message_is_whole_in_version_2_with_nothing_carried() -> None:
    msg = decode_message(message(3, carried=0))
    assert isinstance(msg, WireMessage) and msg.carried == 0
    w, since = build(FrameMemory(), message(3, carried=0), offset=9)
    assert since == 9 and w.seq == 6
