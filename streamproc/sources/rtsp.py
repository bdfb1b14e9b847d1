"""RTSP as cameras speak it: the RTP transport to ask for, and why a stream did not open.

OpenCV's FFmpeg backend takes its demuxer options from one process-wide environment
variable, ``OPENCV_FFMPEG_CAPTURE_OPTIONS``, read when a capture opens. A camera's
``rtsp_transport`` is therefore applied by setting it (merged with whatever the user
set) around that one open, under a lock. ``auto`` asks for TCP first (interleaved on the
RTSP connection: through NAT and firewalls, no loss) and falls back to UDP, and logs which
one worked.

When no transport opens the stream, OpenCV only says "not opened". ``diagnose`` asks the
server itself with a plain RTSP OPTIONS and DESCRIBE over TCP and names the cause:
nothing listening, no answer (unreachable), the credentials refused or missing, no
stream at that path, or a server that answers but accepted none of the transports.
"""

from __future__ import annotations

import base64
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from streamproc.redaction import redact_url

log = logging.getLogger(__name__)

Transport = Literal["auto", "tcp", "udp"]
ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ENV_LOCK = threading.Lock()  # the variable is process-wide: one open at a time sets it


def is_rtsp(target: str | int) -> bool:
    return isinstance(target, str) and target.lower().startswith(("rtsp://", "rtsps://"))


def options_for(transport: str, user: str | None) -> str:
    """The capture options with ``rtsp_transport`` set, the user's other options kept
    (FFmpeg's ``key;value|key;value`` form)."""
    kept = [o for o in (user or "").split("|") if o and not o.startswith("rtsp_transport;")]
    return "|".join([*kept, f"rtsp_transport;{transport}"])


def open_with(
    open_capture: Callable[[str | int, float], Any], url: str, timeout_s: float, transport: str
) -> Any:
    """``open_capture(url, timeout_s)`` with ``rtsp_transport`` set for this open only."""
    with _ENV_LOCK:
        before = os.environ.get(ENV)
        os.environ[ENV] = options_for(transport, before)
        try:
            return open_capture(url, timeout_s)
        finally:
            if before is None:
                os.environ.pop(ENV, None)
            else:
                os.environ[ENV] = before


def open_rtsp(
    open_capture: Callable[[str | int, float], Any],
    url: str,
    timeout_s: float,
    transport: Transport,
    camera: str,
) -> tuple[Any, str | None]:
    """An opened capture and the transport that worked; (the last unopened capture,
    None) when none did. ``auto``: TCP, then UDP."""
    tried = ("tcp", "udp") if transport == "auto" else (transport,)
    cap: Any = None
    for t in tried:
        if cap is not None:
            cap.release()
        cap = open_with(open_capture, url, timeout_s, t)
        if cap.isOpened():
            if transport == "auto":
                log.info("camera %s: RTSP over %s (rtsp_transport auto)", camera, t.upper())
            return cap, t
    return cap, None


class _NotRtsp(Exception):
    """The peer answered, but not as an RTSP server does."""


def _request(sock: socket.socket, method: str, url: str, cseq: int, auth: str | None) -> int:
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", "User-Agent: streamproc"]
    if method == "DESCRIBE":
        lines.append("Accept: application/sdp")
    if auth:
        lines.append(f"Authorization: Basic {auth}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise _NotRtsp("the server closed the connection without an answer")
        head += chunk
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"RTSP/") or not status[1].isdigit():
        raise _NotRtsp(f"its answer is not RTSP: {head[:40]!r}")
    return int(status[1])


def diagnose(url: str, timeout_s: float, tried: tuple[str, ...]) -> str:
    """Why ``url`` did not open, from the server's own answers (never the password)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (322 if parts.scheme == "rtsps" else 554)
    where = f"{host}:{port}"
    if parts.scheme == "rtsps":
        return f"the server at {where} did not open the stream over TLS (rtsps://)"
    clean = parts._replace(netloc=f"{host}:{port}").geturl()
    auth = None
    if parts.username:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = base64.b64encode(pair.encode()).decode()
    try:
        for attempt in range(3):  # 503: the server is (re)starting the stream; ask again
            with socket.create_connection((host, port), timeout=min(timeout_s, 5.0)) as sock:
                sock.settimeout(min(timeout_s, 5.0))
                _request(sock, "OPTIONS", clean, 1, auth)
                status = _request(sock, "DESCRIBE", clean, 2, auth)
            if status != 503:
                break
            time.sleep(0.5 * (attempt + 1))
    except ConnectionRefusedError:
        return f"nothing listens at {where} (connection refused): check the host and port"
    except TimeoutError:
        return f"{where} is unreachable (no answer in {min(timeout_s, 5.0):g} s)"
    except OSError as err:
        return f"{where} is unreachable ({err.strerror or err})"
    except ConnectionError as err:
        return f"{where} does not speak RTSP ({err})"
    if status == 401:
        if auth:
            return f"the server at {where} refused the URL's credentials (401)"
        return f"the server at {where} wants credentials (401): put user:password in the URL"
    if status == 404:
        return f"the server at {where} has no stream at {parts.path or '/'} (404)"
    if status == 503:
        return f"the server at {where} cannot serve the stream now (503): its source is down"
    if status >= 400:
        return f"the server at {where} answered DESCRIBE with {status}"
    return (
        f"the server at {where} has the stream but accepted no RTP transport tried "
        f"({', '.join(t.upper() for t in tried)}): set the camera's rtsp_transport to the "
        "one it speaks (tcp or udp)"
    )


def describe_failure(url: str, timeout_s: float, transport: Transport) -> str:
    tried = ("tcp", "udp") if transport == "auto" else (transport,)
    return f"cannot open {redact_url(url)}: {diagnose(url, timeout_s, tried)}"
