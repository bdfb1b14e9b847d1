"""The faults the chaos suite injects into the services of `scripts/services.sh`: their
pids from its run directory, and its own start logic to bring them back."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from streamproc.errors import ConfigError
from streamproc.evaluation.chaos.harness import ROOT

SERVICES = ROOT / "scripts" / "services.sh"


def run_dir() -> Path:
    home = os.environ.get("STREAMPROC_SERVICES_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "streamproc" / "services"
    return base / "run"


def service_pid(name: str) -> int:
    """The pid of ``redis`` or ``kafka`` from services.sh's pidfile, checked against the
    process's command line so a stale file never signals another program."""
    pidfile = run_dir() / name / f"{name}.pid"
    program = {"redis": "redis-server", "kafka": "kafka.Kafka"}[name]
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        cmdline, pid = "", 0
    if program not in cmdline:
        raise ConfigError(
            f"no {name} started by scripts/services.sh runs (pidfile {pidfile}); the chaos "
            'suite restarts only services it can find: run `eval "$(bash scripts/services.sh '
            'start)"`'
        )
    return pid


def kill_service(name: str, sig: int) -> int:
    pid = service_pid(name)
    os.kill(pid, sig)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.1)
    return pid


def recorded_ports() -> dict[str, str]:
    """The ports services.sh last started this instance on, as its ``STREAMPROC_*_PORT``
    variables: with both services down, ``start`` alone would fall back to the default
    ports (another instance's, on a shared machine)."""
    env: dict[str, str] = {}
    try:
        lines = (run_dir() / "ports.env").read_text().splitlines()
    except OSError:
        return env
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.startswith("REC_") and value.isdigit():
            env[f"STREAMPROC_{key.removeprefix('REC_')}"] = value
    return env


def start_services(timeout_s: float = 180) -> None:
    """services.sh start: starts whichever of the two is down, on the ports they had,
    and waits until ready."""
    subprocess.run(
        ["bash", str(SERVICES), "start"],
        check=True,
        timeout=timeout_s,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**recorded_ports(), **os.environ},
    )
