"""A real RTSP server for tests: ``scripts/rtsp_server.py`` run under the system Python
(GStreamer's bindings live there, not in the virtualenv), started and stopped at will."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER = ROOT / "scripts" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"
PROBE = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    "missing = [e for e in ('x264enc', 'rtph264pay', 'jpegdec', 'jpegparse', 'multifilesrc') "
    "if Gst.ElementFactory.find(e) is None]; "
    "assert not missing, f'GStreamer elements missing: {missing}'"
)


def rtsp_unavailable() -> str | None:
    """Why no RTSP server can run here (None if it can)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        return (probe.stderr.strip().splitlines() or ["GStreamer probe failed"])[-1]
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RtspServer:
    """``start()`` serves ``frames`` (000.jpg, ...) looped at ``fps``; ``stop()`` ends it."""

    def __init__(
        self, frames: Path, fps: int = 10, transport: str = "any", auth: str | None = None
    ) -> None:
        self.frames, self.fps, self.port = frames, fps, free_port()
        self.transport, self.auth = transport, auth
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 20.0) -> None:
        cmd = [SYSTEM_PYTHON, str(SERVER), "--frames", str(self.frames), "--port", str(self.port)]
        cmd += ["--fps", str(self.fps), "--transport", self.transport]
        cmd += ["--auth", self.auth] if self.auth else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = self.proc.stdout.readline()  # READY <url>, or EOF if it failed
        if not line.startswith("READY") or time.monotonic() > deadline:
            self.stop()
            pytest.fail(f"the RTSP server did not start: {line!r}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
