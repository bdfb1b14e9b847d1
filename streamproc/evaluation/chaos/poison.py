"""Bad input for the chaos suite, built through the documented wire format
(``transport/wire.py``): named poison records, and seeded mutations of valid messages
(versions 1 and 2) for fuzzing ``decode_message``."""

from __future__ import annotations

import json
import struct
import time
from collections import Counter

import cv2
import numpy as np

from streamproc.transport.wire import (
    WireError,
    WireWindow,
    decode_message,
    encode_window,
    frame_message,
)


def valid_window(
    camera: str,
    seq: int,
    length: int,
    size: tuple[int, int] = (48, 64),
    carried: int | None = None,
) -> bytes:
    """A valid message: version 1, or 2 carrying ``carried`` frames (a context frame too)."""
    rng = np.random.default_rng(seq)
    frames = rng.integers(0, 255, (length + 1, *size), dtype=np.uint8)
    now = time.time()
    stamps = tuple(now + i * 0.1 for i in range(length))
    context = None if carried is None else frames[0]
    return encode_window(WireWindow(camera, seq, frames[1:], stamps, context), carried=carried)


def poison_records(length: int) -> dict[str, bytes]:
    """One record per kind of poison, by name; each must be dead-lettered."""
    h, w = 48, 64
    now = time.time()
    pixels = bytes(length * h * w)
    base = {
        "camera": "poison",
        "seq": 0,
        "timestamps": [now + i for i in range(length)],
        "context": False,
        "shape": [length, h, w],
        "dtype": "uint8",
        "encoding": "raw",
    }
    ok, jpg = cv2.imencode(".jpg", np.zeros((h, w), np.uint8))
    assert ok
    bomb = bytearray(jpg.tobytes())
    sof = bomb.find(b"\xff\xc0")
    bomb[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)  # the JPEG claims 60000x60000
    return {
        "garbage-bytes": bytes(np.random.default_rng(7).integers(0, 256, 500, dtype=np.uint8)),
        "null-timestamps": frame_message({**base, "timestamps": [None] * length}, pixels),
        "wrong-length": valid_window("poison-length", 0, length + 3),
        "non-finite-timestamp": frame_message(
            {**base, "timestamps": [now] * (length - 1) + [float("inf")]}, pixels
        ),
        "nan-timestamp": frame_message({**base, "timestamps": [float("nan")] * length}, pixels),
        "jpeg-huge-shape": frame_message(
            {**base, "shape": [length, 20000, 20000], "encoding": "jpeg", "sizes": [1] * length},
            b"\0" * length,
        ),
        "jpeg-bomb": frame_message(
            {**base, "encoding": "jpeg", "sizes": [len(bomb)] * length}, bytes(bomb) * length
        ),
        "bad-camera-id": frame_message({**base, "camera": "cam:0/../x"}, pixels),
        "unknown-version": frame_message(base, pixels, version=9),
        "v2-carries-every-frame": frame_message({**base, "carried": length}, b"", version=2),
        # Valid, but its carried frames never came: dead-lettered as incomplete.
        "v2-orphan-part": valid_window("poison-orphan", 40, length, carried=3),
    }


def mutate(msg: bytes, rng: np.random.Generator) -> bytes:
    """One random mutation: bit flips, a truncation, inserted or deleted bytes, a changed
    header length, a header value of another type, or a splice of random bytes; aimed at
    the preamble and header, where the parser's decisions are."""
    hlen = struct.unpack(">I", msg[4:8])[0]
    head_end = 8 + hlen
    b = bytearray(msg)
    kind = int(rng.integers(0, 7))
    pos = int(rng.integers(0, head_end if rng.random() < 0.9 else len(b)))
    if kind == 0:
        for _ in range(int(rng.integers(1, 8))):
            i = int(rng.integers(0, head_end))
            b[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == 1:
        del b[int(rng.integers(0, len(b))) :]
    elif kind == 2:
        b[pos:pos] = bytes(rng.integers(0, 256, int(rng.integers(1, 32)), dtype=np.uint8))
    elif kind == 3:
        del b[pos : pos + int(rng.integers(1, 32))]
    elif kind == 4:
        b[4:8] = struct.pack(">I", int(rng.integers(0, 2**32)))
    elif kind == 5:
        header = json.loads(msg[8:head_end])
        key = str(rng.choice(sorted(header)))
        values: list[object] = [None, -1, 2**64, "x" * 300, [], {}, True, 1e308, [[1]], "Infinity"]
        header[key] = values[int(rng.integers(0, len(values)))]
        return frame_message(header, msg[head_end:])
    else:
        n = int(rng.integers(1, 64))
        b[pos : pos + n] = bytes(rng.integers(0, 256, n, dtype=np.uint8))
    return bytes(b)


def fuzz_decode(n: int, length: int, seed: int = 0) -> tuple[Counter[str], list[bytes]]:
    """``n`` mutations straight to ``decode_message``: outcome counts (``decoded``,
    ``WireError`` or the name of any other exception, which is a failure) and the
    mutations that were rejected (to send through Kafka)."""
    rng = np.random.default_rng(seed)
    seeds = [valid_window(f"fuzz{i}", i, length, (8, 12)) for i in range(4)]
    seeds += [valid_window(f"fuzz{i}", 10 + i, length, (8, 12), carried=i) for i in range(2)]
    outcome: Counter[str] = Counter()
    rejected = []
    for i in range(n):
        m = mutate(seeds[i % len(seeds)], rng)
        try:
            decode_message(m)
            outcome["decoded"] += 1
        except WireError:
            outcome["WireError"] += 1
            rejected.append(m)
        except Exception as err:  # the contract is broken: only WireError may escape
            outcome[type(err).__name__] += 1
    return outcome, rejected
