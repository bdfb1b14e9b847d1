"""The body of the Serve HTTP route: a batch of frame windows in, JSON scores out.

Request (``POST``, ``Content-Type: application/octet-stream``)::

    bytes 0-2   magic b"SPB"
    byte  3     format version (1)
    bytes 4-7   header length H, unsigned 32-bit big-endian
    bytes 8..   H bytes of UTF-8 JSON: {"windows": [{"roi": [...], "exclude": [...],
                "heatmap": false}, ...]}, one entry per window, in order
    then, per window, a 32-bit big-endian length and the window in the wire format of
    ``streamproc.transport.wire`` (camera, seq, frames, context)

Response: JSON ``{"results": [{camera, seq, scores, model_version, heatmap_png_b64,
error}, ...]}`` in request order (``error`` set on a window that could not be scored).
Nothing is pickled; any language can speak it. ROI polygons are lists of ``[x, y]``
pairs in 0..1 frame coordinates, as in a camera's settings.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from streamproc.serving.scorer import Polygon, ScoreRequest, ScoreResult
from streamproc.transport.wire import MAX_HEADER, WireError, WireWindow, decode_window
from streamproc.transport.wire import encode_window as encode_wire

MAGIC = b"SPB"
VERSION = 1
MAX_WINDOWS = 4096
CONTENT_TYPE = "application/octet-stream"
_LEN = struct.Struct(">I")


def _window(r: ScoreRequest) -> bytes:
    # Timestamps do not change a score; the wire format wants one per frame.
    w = WireWindow(r.camera, r.seq, r.frames, (0.0,) * len(r.frames), r.context)
    return encode_wire(w)


def encode_batch(requests: list[ScoreRequest]) -> bytes:
    header = {
        "windows": [
            {
                "roi": [[list(map(float, p)) for p in poly] for poly in r.roi],
                "exclude": [[list(map(float, p)) for p in poly] for poly in r.exclude],
                "heatmap": bool(r.heatmap),
            }
            for r in requests
        ]
    }
    h = json.dumps(header, separators=(",", ":")).encode()
    parts = [MAGIC, bytes([VERSION]), _LEN.pack(len(h)), h]
    for r in requests:
        blob = _window(r)
        parts += [_LEN.pack(len(blob)), blob]
    return b"".join(parts)


def _polygons(value: Any, what: str) -> list[Polygon]:
    if not isinstance(value, list):
        raise WireError(f"{what}: expected a list of polygons, got {type(value).__name__}")
    out: list[Polygon] = []
    for poly in value:
        if not isinstance(poly, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(_finite(c) for c in p) for p in poly
        ):
            raise WireError(f"{what}: expected polygons of [x, y] number pairs, got {poly!r}")
        out.append([(float(p[0]), float(p[1])) for p in poly])
    return out


def _finite(c: object) -> bool:
    return isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c)


def decode_batch(data: bytes) -> list[ScoreRequest]:
    """Parse a request body; any problem raises ``WireError`` saying what it is."""
    if len(data) < 8 or data[:3] != MAGIC:
        raise WireError("not a streamproc batch (expected the magic b'SPB')")
    if data[3] != VERSION:
        raise WireError(f"batch format version {data[3]}, expected {VERSION}")
    (hlen,) = _LEN.unpack_from(data, 4)
    if hlen > MAX_HEADER or 8 + hlen > len(data):
        raise WireError(f"batch header length {hlen} exceeds the body or {MAX_HEADER}")
    try:
        header = json.loads(data[8 : 8 + hlen])
    except ValueError as err:
        raise WireError(f"batch header is not JSON ({err})") from None
    windows = header.get("windows") if isinstance(header, dict) else None
    if not isinstance(windows, list) or len(windows) > MAX_WINDOWS:
        raise WireError(f"batch header: expected 'windows', a list of at most {MAX_WINDOWS}")
    at, out = 8 + hlen, []
    for i, meta in enumerate(windows):
        if not isinstance(meta, dict):
            raise WireError(f"window {i}: expected an object of settings, got {meta!r}")
        if at + 4 > len(data):
            raise WireError(f"window {i}: body ends before its length")
        (n,) = _LEN.unpack_from(data, at)
        if at + 4 + n > len(data):
            raise WireError(f"window {i}: {n} bytes announced, {len(data) - at - 4} left")
        w = decode_window(data[at + 4 : at + 4 + n])
        at += 4 + n
        heatmap = meta.get("heatmap", False)
        if not isinstance(heatmap, bool):
            raise WireError(f"window {i}: heatmap expected true/false, got {heatmap!r}")
        out.append(
            ScoreRequest(
                w.camera,
                w.seq,
                w.frames,
                w.context,
                _polygons(meta.get("roi", []), f"window {i} roi"),
                _polygons(meta.get("exclude", []), f"window {i} exclude"),
                heatmap,
            )
        )
    if at != len(data):
        raise WireError(f"{len(data) - at} bytes after the last window")
    return out


def encode_results(results: list[ScoreResult]) -> bytes:
    rows = [
        {
            "camera": r.camera,
            "seq": r.seq,
            "scores": [float(s) for s in r.scores],
            "model_version": r.model_version,
            "heatmap_png_b64": r.heatmap_png_b64,
            "error": r.error,
        }
        for r in results
    ]
    return json.dumps({"results": rows}, separators=(",", ":")).encode()


def decode_results(data: bytes) -> list[ScoreResult]:
    rows = json.loads(data)["results"]
    return [
        ScoreResult(
            r["camera"],
            int(r["seq"]),
            [float(s) for s in r["scores"]],
            r["model_version"],
            r.get("heatmap_png_b64"),
            r.get("error"),
        )
        for r in rows
    ]
