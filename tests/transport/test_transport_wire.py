"""The frame-window wire format: lossless raw and lossy JPEG round trips, and every kind
of bad message turned into a ``WireError`` that says what is wrong."""

from __future__ import annotations

import struct
from typing import Any

import cv2
import numpy as np
import pytest

from streamproc.errors import StreamprocError
from streamproc.transport.wire import (
    MAGIC,
    VERSION,
    WireError,
    WireWindow,
    decode_message,
    decode_window,
    encode_window,
    frame_message,
)


def smooth_frames(n: int, h: int = 24, w: int = 32, colour: bool = False) -> np.ndarray:
    """Gradients that survive JPEG nearly unchanged."""
    y, x = np.mgrid[0:h, 0:w]
    frames = np.stack([(x * 4 + y * 2 + 10 * t) % 200 + 20 for t in range(n)]).astype(np.uint8)
    return np.repeat(frames[..., None], 3, axis=3) if colour else frames


def window(frames: np.ndarray, context: bool) -> WireWindow:
    stamps = tuple(1_700_000_000 + 0.04 * t for t in range(len(frames) - int(context)))
    if context:
        return WireWindow("cam-1", 41, frames[1:], stamps, frames[0])
    return WireWindow("cam-1", 41, frames, stamps)


def raw_header(**override: Any) -> dict[str, Any]:
    header = {
        "camera": "cam-1",
        "seq": 0,
        "timestamps": [0.0, 0.04],
        "context": False,
        "shape": [2, 4, 4],
        "dtype": "uint8",
        "encoding": "raw",
    }
    return header | override


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("context", [False, True])
def test_raw_round_trip_is_exact(colour: bool, context: bool) -> None:
    frames = smooth_frames(5, colour=colour)
    back = decode_window(encode_window(window(frames, context), "raw"))
    assert (back.camera, back.seq) == ("cam-1", 41)
    assert back.timestamps == window(frames, context).timestamps
    assert (back.context is not None) == context
    assert np.array_equal(back.all_frames(), frames)


@pytest.mark.parametrize("colour", [False, True])
def test_jpeg_round_trip_is_close_and_smaller(colour: bool) -> None:
    frames = smooth_frames(5, 48, 64, colour=colour)
    data = encode_window(window(frames, context=True), "jpeg", quality=95)
    back = decode_window(data)
    assert back.all_frames().shape == frames.shape and back.context is not None
    error = np.abs(back.all_frames().astype(int) - frames.astype(int)).mean()
    assert error < 3
    assert len(data) < frames.nbytes


def test_unknown_header_fields_are_ignored() -> None:
    data = frame_message(raw_header(added_in_v2="whatever"), bytes(32))
    assert decode_window(data).frames.shape == (2, 4, 4)


def test_wire_error_is_a_streamproc_error() -> None:
    assert issubclass(WireError, StreamprocError)


GOOD = encode_window(window(smooth_frames(3), context=True))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "bad magic"),
        (GOOD[:6], "bad magic"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "bad magic"),
        (bytes(range(256)), "bad magic"),
        (GOOD[:3] + bytes([3]) + GOOD[4:], "version 3 is not supported"),
        (GOOD[:3] + bytes([0]) + GOOD[4:], "version 0 is not supported"),
        (GOOD[:40], "header length .* does not fit"),
        (GOOD[:-1], "raw payload is .* bytes"),
        (GOOD + b"x", "raw payload is .* bytes"),
        (MAGIC + bytes([VERSION]) + struct.pack(">I", 2**31) + bytes(10), "header length"),
        (MAGIC + bytes([VERSION]) + struct.pack(">I", 5) + b"{oops", "not valid JSON"),
        (MAGIC + bytes([VERSION]) + struct.pack(">I", 2) + b"\xff\xfe", "not valid JSON"),
        (frame_message([1, 2], b""), "not a JSON object"),  # type: ignore[arg-type]
    ],
)
def test_malformed_messages_raise_wire_error(data: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        decode_window(data)


@pytest.mark.parametrize(
    ("override", "payload", "message"),
    [
        ({"camera": None}, 32, "'camera': expected"),
        ({"seq": "7"}, 32, "'seq': expected .*int.*, got str"),
        ({"seq": True}, 32, "'seq': expected"),
        ({"timestamps": 0.0}, 32, "'timestamps': expected"),
        ({"camera": ""}, 32, "camera id '' is not valid"),
        ({"seq": -1}, 32, r"seq must be in 0..2\*\*53-1"),
        ({"dtype": "float32"}, 32, "dtype 'float32' is not supported"),
        ({"encoding": "png"}, 32, "encoding 'png' is not supported"),
        ({"shape": [2, 4]}, 32, r"shape must be \[N, H, W\]"),
        ({"shape": [2, 4, 4, 2]}, 64, r"shape must be \[N, H, W\]"),
        ({"shape": [2, 0, 4]}, 0, r"shape must be"),
        ({"shape": [3, 4, 4]}, 48, "3 frames .* do not match 2 timestamps"),
        ({"context": True}, 32, r"2 frames \(context=True\) do not match 2 timestamps"),
        ({"shape": [2, 4, 5]}, 32, "raw payload is 32 bytes, 2 frames of shape .* need 40"),
    ],
)
def test_inconsistent_headers_raise_wire_error(
    override: dict[str, Any], payload: int, message: str
) -> None:
    with pytest.raises(WireError, match=message):
        decode_window(frame_message(raw_header(**override), bytes(payload)))


def test_missing_fields_are_named() -> None:
    header = raw_header()
    del header["shape"]
    with pytest.raises(WireError, match="lacks required field 'shape'"):
        decode_window(frame_message(header, bytes(32)))


def test_bad_jpeg_payloads_raise_wire_error() -> None:
    ok, buf = cv2.imencode(".jpg", smooth_frames(1)[0])
    assert ok
    jpeg = buf.tobytes()
    header = raw_header(encoding="jpeg", shape=[2, 24, 32])
    with pytest.raises(WireError, match="lacks required field 'sizes'"):
        decode_window(frame_message(header, jpeg * 2))
    with pytest.raises(WireError, match="sizes do not add up"):
        decode_window(frame_message(header | {"sizes": [len(jpeg), 5]}, jpeg * 2))
    with pytest.raises(WireError, match=r"JPEG frame.* \[24, 32\]"):
        decode_window(frame_message(header | {"sizes": [len(jpeg), 4]}, jpeg + b"junk"))
    wrong_size = raw_header(encoding="jpeg", shape=[2, 12, 32], sizes=[len(jpeg)] * 2)
    with pytest.raises(WireError, match=r"header does not declare \[12, 32\]"):
        decode_window(frame_message(wrong_size, jpeg * 2))


# Version 2: a message carries only the frames the camera's previous one did not.


@pytest.mark.parametrize("encoding", ["raw", "jpeg"])
@pytest.mark.parametrize("context", [False, True])
@pytest.mark.parametrize("carried", [0, 1, 4])
def test_v2_round_trip_puts_carried_frames_in_front(
    encoding: str, context: bool, carried: int
) -> None:
    frames = smooth_frames(6, 48, 64)
    w = WireWindow(
        "cam-1",
        41,
        frames[int(context) :],
        window(frames, context).timestamps,
        frames[0] if context else None,
        "s-1",
    )
    data = encode_window(w, encoding, quality=95, carried=carried)  # type: ignore[arg-type]
    assert data[3] == 2
    msg = decode_message(data)
    assert (msg.version, msg.camera, msg.seq, msg.stream) == (2, "cam-1", 41, "s-1")
    assert (msg.carried, msg.context, msg.first) == (carried, context, 41 - int(context))
    assert msg.size == len(frames) and len(msg.frames) == len(frames) - carried
    back = msg.whole(frames[:carried] if carried else None)
    assert back.timestamps == w.timestamps and (back.context is not None) == context
    error = np.abs(back.all_frames().astype(int) - frames.astype(int))
    assert error.max() == 0 if encoding == "raw" else error.mean() < 3


def test_v2_message_is_smaller_by_the_frames_it_carries() -> None:
    w = window(smooth_frames(9), context=True)
    whole, part = encode_window(w), encode_window(w, carried=5)
    assert len(whole) - len(part) == 5 * 24 * 32 - len(',"carried":5')


def test_v1_messages_are_still_read() -> None:
    w = window(smooth_frames(4), context=True)
    data = encode_window(w)
    assert data[3] == 1
    msg = decode_message(data)
    assert (msg.version, msg.carried) == (1, 0)
    assert np.array_equal(decode_window(data).all_frames(), w.all_frames())
    # `carried` means nothing in version 1: an unknown field, ignored.
    v1 = frame_message(raw_header(carried=1), bytes(32), version=1)
    assert decode_message(v1).carried == 0 and decode_window(v1).frames.shape == (2, 4, 4)


def test_a_whole_v2_window_reads_like_v1() -> None:
    w = window(smooth_frames(4), context=False)
    back = decode_window(encode_window(w, carried=0))
    assert np.array_equal(back.frames, w.frames) and back.seq == w.seq


def test_decode_window_refuses_a_window_missing_frames() -> None:
    data = encode_window(window(smooth_frames(4), context=True), carried=2)
    with pytest.raises(WireError, match="2 of its frames are in the camera's earlier messages"):
        decode_window(data)


@pytest.mark.parametrize("carried", [-1, 2, 5, "1", True, 1.0, None])
def test_v2_bad_carried_is_a_wire_error(carried: Any) -> None:
    header = raw_header(carried=carried)  # 2 frames: carried must be 0 or 1
    with pytest.raises(WireError, match="carried"):
        decode_message(frame_message(header, bytes(16), version=2))


def test_v2_payload_must_match_the_frames_not_carried() -> None:
    header = raw_header(carried=1)
    assert len(decode_message(frame_message(header, bytes(16), version=2)).frames) == 1
    with pytest.raises(WireError, match="raw payload is 32 bytes, 1 frames"):
        decode_message(frame_message(header, bytes(32), version=2))


def test_encode_refuses_carrying_the_whole_window() -> None:
    with pytest.raises(ValueError, match=r"carried must be in 0\.\.3"):
        encode_window(window(smooth_frames(4), context=True), carried=4)
