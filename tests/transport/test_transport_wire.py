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
        (GOOD[:3] + bytes([2]) + GOOD[4:], "version 2 is not supported"),
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
        ({"shape": [2, 4, 5]}, 32, "raw payload is 32 bytes, shape .* needs 40"),
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
