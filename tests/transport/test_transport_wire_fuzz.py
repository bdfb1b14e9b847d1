"""Untrusted frame windows: whatever arrives, ``decode_window`` returns a bounded, valid
window or raises ``WireError`` (the worker dead-letters exactly that message), never any
other exception, and never allocates more than the declared, bounded shape."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

import cv2
import numpy as np
import pytest

from streamproc.transport import wire
from streamproc.transport.wire import (
    WireError,
    WireMessage,
    WireWindow,
    decode_message,
    decode_window,
    encode_window,
    frame_message,
)
from tests.transport.test_transport_wire import raw_header


def jpeg(h: int, w: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.zeros((h, w), np.uint8))
    assert ok
    return bytes(buf.tobytes())


@pytest.mark.parametrize(
    "override",
    [
        {"timestamps": ["0", "1"]},  # strings: float() would parse them, or fail later
        {"timestamps": [None, 1.0]},
        {"timestamps": [0.0, float("nan")]},
        {"timestamps": [0.0, float("inf")]},
        {"timestamps": [0.0, 10**400]},  # float() overflows
        {"timestamps": [0.0, -5.0]},
        {"timestamps": [{}, []]},
        {"shape": [2, 4, 2**62]},  # np.prod overflows int64
        {"shape": [2**40, 4, 4]},
        {"seq": 2**64},
        {"camera": "cam\n"},
        {"camera": "a:b"},
        {"camera": "x" * 65},
        {"stream": "s" * 10_000},
        {"dtype": ["uint8"]},
    ],
)
def test_wrongly_typed_or_unbounded_fields_raise_only_wire_error(override: dict[str, Any]) -> None:
    """At 03ea956 these raised TypeError/ValueError/OverflowError, which dropped the whole
    poll without dead-lettering it, or were accepted."""
    with pytest.raises(WireError):
        decode_window(frame_message(raw_header(**override), bytes(32)))


@pytest.mark.parametrize("sizes", [["10", "10"], [None, 1], [1.5, 2.5], [-1, 21], [0, 20]])
def test_non_integer_jpeg_sizes_raise_wire_error(sizes: list[Any]) -> None:
    header = raw_header(encoding="jpeg", sizes=sizes)
    with pytest.raises(WireError):
        decode_window(frame_message(header, bytes(20)))


def test_a_jpeg_larger_than_declared_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_decode(*args: Any) -> None:
        raise AssertionError("decoded a JPEG whose header disagrees with the shape")

    monkeypatch.setattr(wire.cv2, "imdecode", no_decode)
    big = jpeg(480, 640)
    header = raw_header(encoding="jpeg", shape=[1, 24, 32], timestamps=[0.0], sizes=[len(big)])
    with pytest.raises(WireError, match="header does not declare"):
        decode_window(frame_message(header, big))


def test_a_window_larger_than_the_bounds_is_refused() -> None:
    big = jpeg(3000, 5000)  # a few KB of JPEG, 15 MB of pixels
    header = raw_header(encoding="jpeg", shape=[1, 3000, 5000], timestamps=[0.0], sizes=[len(big)])
    with pytest.raises(WireError, match="too large"):
        decode_window(frame_message(header, big))
    many = raw_header(shape=[200, 1200, 1200, 3], timestamps=[0.0] * 200)
    with pytest.raises(WireError, match="MiB"):
        decode_window(frame_message(many, b""))


def _good_messages() -> list[bytes]:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (3, 16, 24), dtype=np.uint8)
    colour = rng.integers(0, 255, (3, 16, 24, 3), dtype=np.uint8)
    stamps = (1.0, 2.0)
    return [
        encode_window(WireWindow("cam-1", 5, gray[1:], stamps, gray[0], "s1"), "raw"),
        encode_window(WireWindow("cam-1", 5, gray[1:], stamps, gray[0]), "jpeg"),
        encode_window(WireWindow("c.2", 0, colour, (1.0, 2.0, 3.0)), "jpeg"),
        encode_window(WireWindow("cam-1", 5, gray[1:], stamps, gray[0], "s1"), "raw", carried=2),
        encode_window(WireWindow("c.2", 0, colour, (1.0, 2.0, 3.0)), "jpeg", carried=1),
    ]


BAD_VALUES: list[Any] = [
    None,
    True,
    -1,
    0,
    1,
    2**31,
    2**63,
    10**30,
    -(10**30),
    1.5,
    float("nan"),
    float("inf"),
    -float("inf"),
    "",
    "7",
    "x" * 300,
    [],
    [1],
    [None],
    ["a", "b"],
    [2, 4, 4],
    [2, 4, 4, 3],
    [0.5, 1.5],
    [2**62, 2, 2],
    {},
    {"a": 1},
    [[[]]],
]


def _mutate(data: bytes, rnd: random.Random) -> bytes:
    if not data:
        return rnd.randbytes(8)
    kind = rnd.randrange(4)
    b = bytearray(data)
    if kind == 0:  # flip bytes anywhere
        for _ in range(rnd.randint(1, 8)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    elif kind == 1:  # truncate
        del b[rnd.randrange(len(b)) :]
    elif kind == 2:  # append junk
        b += rnd.randbytes(rnd.randint(1, 64))
    else:  # rewrite one header field with a value of the wrong type or size
        hlen = struct.unpack(">I", data[4:8])[0] if len(data) >= 8 else 0
        try:
            header = json.loads(data[8 : 8 + hlen])
            assert isinstance(header, dict)
        except (ValueError, AssertionError):  # an earlier mutation broke it already
            return data[: rnd.randrange(len(data) + 1)]
        key = rnd.choice([*header, "sizes", "stream", "dtype", "carried"])
        header[key] = rnd.choice(BAD_VALUES)
        return frame_message(header, data[8 + hlen :])
    return bytes(b)


def _check_bounded(w: WireWindow) -> None:
    frames = w.all_frames()
    assert frames.dtype == np.uint8 and frames.ndim in (3, 4)
    assert frames.nbytes <= wire.MAX_WINDOW_BYTES
    assert len(w.timestamps) == len(w.frames)
    assert all(math.isfinite(t) for t in w.timestamps)


def _check_message(m: WireMessage) -> None:
    assert m.frames.dtype == np.uint8 and m.frames.ndim in (3, 4)
    assert m.frames.nbytes <= wire.MAX_WINDOW_BYTES
    assert 0 <= m.carried < m.size and len(m.frames) == m.size - m.carried
    assert all(math.isfinite(t) for t in m.timestamps)


def test_fuzzed_messages_raise_only_wire_error() -> None:
    rnd = random.Random(12)
    good = _good_messages()
    outcomes = {"ok": 0, "wire_error": 0}
    for i in range(4000):
        if i % 10 == 0:
            data = rnd.randbytes(rnd.randint(0, 200))
        elif i % 10 == 1:  # random headers on a valid preamble
            header = {k: rnd.choice(BAD_VALUES) for k in raw_header() if rnd.random() < 0.9}
            data = frame_message(header, rnd.randbytes(rnd.randint(0, 64)))
        else:
            data = rnd.choice(good)
            for _ in range(rnd.randint(1, 3)):
                data = _mutate(data, rnd)
        try:
            msg = decode_message(data)
        except WireError:
            outcomes["wire_error"] += 1
        else:
            _check_message(msg)
            if not msg.carried:
                _check_bounded(decode_window(data))
            outcomes["ok"] += 1
    assert outcomes["wire_error"] > 2000  # the fuzzer really produced bad messages
