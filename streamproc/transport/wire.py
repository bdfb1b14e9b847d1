"""The wire format of a frame window: a small binary preamble, a JSON header, raw pixels.

    bytes 0-2   magic b"SPW"
    byte  3     format version (1 or 2)
    bytes 4-7   header length H, unsigned 32-bit big-endian
    bytes 8..   H bytes of UTF-8 JSON header (fields below)
    rest        pixel payload

Header fields: ``camera`` (str), ``seq`` (int, sequence number of the window's first
frame), ``timestamps`` (list of capture times in unix seconds, one per window frame),
``context`` (bool: a leading frame, the one before ``seq``, is included so the motion
channel of the first frame can be computed), ``shape`` ([N, H, W] or [N, H, W, 3],
N = frames incl. context), ``dtype`` ("uint8"), ``encoding`` ("raw": N*H*W[*3] bytes
in C order, BGR for colour; "jpeg": N concatenated JPEG images whose byte sizes are in
``sizes``), optional ``stream`` (id of the capture session: ``seq`` restarts from 0
when a camera's ingest restarts, and the new id tells the worker so), optional
``segment`` (int >= 0, default 0: the capture segment within the stream; it goes up by
one at each break in capture, a reconnect, a looped file's wrap, a gap or a cut in the
picture, ``sources/breaks.py``; no window holds frames of two segments, the first window
of a segment has no context frame, and the worker restarts the camera's smoothing and
warm-up when it changes). Unknown header fields are ignored, so later versions can add
fields: ``segment`` was added to both versions that way, and a reader that predates it
still builds every window right, since a segment's first message is always whole.

Version 2 adds ``carried`` (int, 0 <= carried < N): the first ``carried`` of the N frames
(context included) are not in the payload; they are the last frames of the camera's
previous message in the same ``stream``, which the reader keeps (``runtime/assembly.py``).
So with windows of 8 and stride 4 each frame crosses the wire once instead of about 2.2
times. ``shape`` stays the whole window's; the payload (and ``sizes``) holds its last
N - carried frames. ``carried`` 0 is a whole window, as in version 1. A sender makes a
message whole when it is a session's or a segment's first, when the camera's previous
message was not delivered or not sent, or when that message is more than
``WHOLE_AFTER_S`` old; a
reader may forget a camera's frames once its partition has messages ``FORGET_AFTER_S``
newer than the camera's last. A version-1 reader refuses version 2 (upgrade the workers
before the ingest); this reader takes both.

Nothing is pickled; any language can produce or read it. A gray 240x360 window of 8
frames plus context is 778 KB raw, under Kafka's default 1 MB message limit; colour or
larger frames should use ``jpeg``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from streamproc.errors import StreamprocError
from streamproc.ids import CAMERA_ID_RULE, is_camera_id
from streamproc.transport.jpeg_header import jpeg_size

MAGIC = b"SPW"
VERSION = 2  # what this reader takes, and the newest a sender writes
VERSIONS = (1, 2)
WHOLE_AFTER_S = 5.0  # a camera silent this long sends its next window whole
FORGET_AFTER_S = 30.0  # a reader may forget the frames of a camera silent this long
MAX_HEADER = 64 * 1024
MAX_FRAMES = 256
MAX_SIDE = 4096  # frame height and width
MAX_WINDOW_BYTES = 256 * 2**20  # decoded pixels of one window, context included
MAX_SEQ = 2**53 - 1  # sequence numbers stay exact as JSON numbers in any language
MAX_TIME = 2.0**40  # unix seconds: year 36812; rejects inf, and huge ints before float()
MAX_STREAM_ID = 256


class WireError(StreamprocError):
    """A message is not a valid frame window; it goes to the dead-letter topic."""


@dataclass(frozen=True)
class WireWindow:
    camera: str
    seq: int
    frames: np.ndarray  # (T, H, W) or (T, H, W, 3) uint8, the window itself
    timestamps: tuple[float, ...]
    context: np.ndarray | None = None  # (H, W[, 3]) the frame before ``seq``, if any
    stream: str = ""  # id of the capture session; sequence numbers restart with a new one
    segment: int = 0  # capture segment within the stream: it changes at a break in capture

    def all_frames(self) -> np.ndarray:
        if self.context is None:
            return self.frames
        return np.concatenate([self.context[None], self.frames])


@dataclass(frozen=True)
class WireMessage:
    """One decoded message: a window whose first ``carried`` frames (context included)
    came in the camera's earlier messages; ``frames`` holds the rest."""

    version: int
    camera: str
    seq: int
    frames: np.ndarray  # (N - carried, H, W[, 3]): the window's last frames
    timestamps: tuple[float, ...]
    context: bool
    stream: str = ""
    carried: int = 0
    segment: int = 0

    @property
    def first(self) -> int:
        """Sequence number of the window's first frame, the context frame included."""
        return self.seq - int(self.context)

    @property
    def size(self) -> int:
        """Frames of the whole window, the context frame included."""
        return len(self.timestamps) + int(self.context)

    def whole(self, carried: np.ndarray | None = None) -> WireWindow:
        """The window, with ``carried`` (the frames before the payload's) put in front."""
        if (0 if carried is None else len(carried)) != self.carried:
            raise WireError(f"window {self.seq} needs {self.carried} carried frames")
        frames = self.frames if carried is None else np.concatenate([carried, self.frames])
        ctx = frames[0] if self.context else None
        body = frames[1:] if self.context else frames
        return WireWindow(
            self.camera, self.seq, body, self.timestamps, ctx, self.stream, self.segment
        )


def encode_window(
    w: WireWindow,
    encoding: Literal["raw", "jpeg"] = "raw",
    quality: int = 90,
    carried: int | None = None,
) -> bytes:
    """``w`` as one message: version 1 (whole) when ``carried`` is None, else version 2
    without its first ``carried`` frames (context included), which the reader has from
    the camera's previous message."""
    whole = np.ascontiguousarray(w.all_frames(), dtype=np.uint8)
    header: dict[str, Any] = {
        "camera": w.camera,
        "seq": int(w.seq),
        "timestamps": [float(t) for t in w.timestamps],
        "context": w.context is not None,
        "shape": list(whole.shape),
        "dtype": "uint8",
        "encoding": encoding,
    }
    if w.stream:
        header["stream"] = w.stream
    if w.segment:
        header["segment"] = int(w.segment)  # absent = 0: older senders' messages read the same
    version = 1 if carried is None else 2
    if carried is not None:
        if not 0 <= carried < len(whole):
            raise ValueError(f"carried must be in 0..{len(whole) - 1}, got {carried}")
        header["carried"] = carried
    frames = whole[carried or 0 :]
    if encoding == "raw":
        payload = frames.tobytes()
    else:
        blobs = []
        for f in frames:
            ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if not ok:
                raise WireError(f"camera {w.camera}: JPEG encoding failed for window {w.seq}")
            blobs.append(buf.tobytes())
        header["sizes"] = [len(b) for b in blobs]
        payload = b"".join(blobs)
    return frame_message(header, payload, version)


def frame_message(header: Any, payload: bytes, version: int = VERSION) -> bytes:
    """The framing of every message: magic, version, header length, JSON header, payload.
    ``encode_window`` frames a window with it; the chaos suite and the tests frame
    arbitrary (also malformed) headers with it, which is why any JSON value goes."""
    # allow_nan: json writes inf as `Infinity`, which a JSON reader may accept
    h = json.dumps(header, separators=(",", ":"), allow_nan=True).encode()
    return MAGIC + bytes([version]) + struct.pack(">I", len(h)) + h + payload


def _field(header: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in header:
        raise WireError(f"header lacks required field {key!r}")
    value = header[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise WireError(f"header field {key!r}: expected {kind}, got {type(value).__name__}")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode_window(data: bytes) -> WireWindow:
    """A message holding a whole window (version 1, or 2 with nothing carried); see
    ``decode_message``. A version-2 message that carries frames raises WireError."""
    msg = decode_message(data)
    if msg.carried:
        raise WireError(
            f"camera {msg.camera} window {msg.seq}: {msg.carried} of its frames are in the "
            "camera's earlier messages (wire version 2); read it with the stream worker"
        )
    return msg.whole()


def decode_message(data: bytes) -> WireMessage:
    """Parse and validate one message; any problem raises WireError saying what it is.

    The checks below name every problem they know; the last resort turns anything they
    missed into a WireError too, so a malformed message is always dead-lettered on its
    own and never fails the batch it came in."""
    try:
        return _decode(data)
    except WireError:
        raise
    except Exception as err:  # the contract: only WireError escapes
        raise WireError(f"malformed frame window ({type(err).__name__}: {err})") from None


def _decode(data: bytes) -> WireMessage:
    if len(data) < 8 or data[:3] != MAGIC:
        raise WireError("not a streamproc frame window (bad magic bytes)")
    version = data[3]
    if version not in VERSIONS:
        raise WireError(
            f"wire format version {version} is not supported (this reader: {VERSIONS}); "
            "upgrade the stream workers"
        )
    (hlen,) = struct.unpack(">I", data[4:8])
    if hlen > MAX_HEADER or 8 + hlen > len(data):
        raise WireError(f"header length {hlen} does not fit the {len(data)}-byte message")
    try:
        header = json.loads(data[8 : 8 + hlen])
    except (ValueError, RecursionError) as err:  # also bad UTF-8 and 5,000-digit numbers
        raise WireError(f"header is not valid JSON: {str(err)[:200]}") from None
    if not isinstance(header, dict):
        raise WireError("header is not a JSON object")
    camera = _field(header, "camera", str)
    seq = _field(header, "seq", int)
    stamps = _field(header, "timestamps", list)
    context = bool(_field(header, "context", bool))
    shape = _field(header, "shape", list)
    encoding = _field(header, "encoding", str)
    if header.get("dtype", "uint8") != "uint8":
        dtype = str(header.get("dtype"))[:40]
        raise WireError(f"dtype {dtype!r} is not supported; expected 'uint8'")
    if not is_camera_id(camera):
        raise WireError(f"camera id {camera[:80]!r} is not valid: expected {CAMERA_ID_RULE}")
    if not 0 <= seq <= MAX_SEQ:
        raise WireError(f"seq must be in 0..2**53-1, got {seq}")
    _check_shape(shape)
    n = shape[0]
    if n - int(context) < 1 or len(stamps) != n - int(context):
        raise WireError(f"{n} frames (context={context}) do not match {len(stamps)} timestamps")
    for t in stamps:
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t < MAX_TIME:
            raise WireError(
                f"timestamps must be finite unix seconds >= 0, got {str(t)[:40]!r} "
                f"({type(t).__name__})"
            )
    segment = _field(header, "segment", int) if "segment" in header else 0
    if not 0 <= segment <= MAX_SEQ:
        raise WireError(f"segment must be in 0..2**53-1, got {segment}")
    carried = _field(header, "carried", int) if version >= 2 and "carried" in header else 0
    if not 0 <= carried < n:
        raise WireError(f"carried must be in 0..{n - 1} (N - 1), got {carried}")
    sent = [n - carried, *shape[1:]]  # the frames in the payload
    payload = data[8 + hlen :]
    if encoding == "raw":
        expected = int(np.prod(sent))
        if len(payload) != expected:
            raise WireError(
                f"raw payload is {len(payload)} bytes, {sent[0]} frames of shape {shape} "
                f"need {expected}"
            )
        frames = np.frombuffer(payload, np.uint8).reshape(sent)
    elif encoding == "jpeg":
        frames = _decode_jpegs(payload, _field(header, "sizes", list), sent)
    else:
        raise WireError(f"encoding {encoding[:40]!r} is not supported; expected 'raw' or 'jpeg'")
    times = tuple(float(t) for t in stamps)
    stream = header.get("stream", "")
    if not isinstance(stream, str) or len(stream) > MAX_STREAM_ID:
        raise WireError(f"header field 'stream': expected a str of <= {MAX_STREAM_ID} characters")
    return WireMessage(version, camera, seq, frames, times, context, stream, carried, segment)


def _check_shape(shape: list[Any]) -> None:
    """Bound the window before anything is allocated for it."""
    if (
        len(shape) not in (3, 4)
        or not all(_is_int(s) and s > 0 for s in shape)
        or (len(shape) == 4 and shape[3] != 3)
    ):
        raise WireError(f"shape must be [N, H, W] or [N, H, W, 3], got {str(shape)[:80]}")
    n, h, w = shape[:3]
    if n > MAX_FRAMES or h > MAX_SIDE or w > MAX_SIDE:
        raise WireError(
            f"shape {shape} is too large: at most {MAX_FRAMES} frames of {MAX_SIDE}x{MAX_SIDE}"
        )
    if n * h * w * (3 if len(shape) == 4 else 1) > MAX_WINDOW_BYTES:
        raise WireError(f"shape {shape} needs more than {MAX_WINDOW_BYTES >> 20} MiB of pixels")


def _decode_jpegs(payload: bytes, sizes: list[Any], shape: list[int]) -> np.ndarray:
    if (
        len(sizes) != shape[0]
        or not all(_is_int(s) and s > 0 for s in sizes)
        or sum(sizes) != len(payload)
    ):
        raise WireError("jpeg sizes do not add up to the payload")
    out, pos = [], 0
    flag = cv2.IMREAD_COLOR if len(shape) == 4 else cv2.IMREAD_GRAYSCALE
    for size in sizes:
        blob = payload[pos : pos + size]
        pos += size
        # The image's own header must agree before decoding: the declared shape is bounded,
        # the JPEG's size is not (a small file can decode to hundreds of MB).
        if jpeg_size(blob) != (shape[1], shape[2]):
            raise WireError(f"a JPEG frame's header does not declare {shape[1:]}")
        try:
            img = cv2.imdecode(np.frombuffer(blob, np.uint8), flag)
        except cv2.error:
            img = None
        if img is None or list(img.shape) != shape[1:]:
            raise WireError(f"a JPEG frame does not decode to {shape[1:]}")
        out.append(img)
    return np.stack(out)
