"""A throwaway ``ray start --head`` for the tests marked ``ray``: a new session, free
ports, its own temp dir. Teardown kills that session's process group (and anything below
it or naming the temp dir), never ``ray stop``, which stops every Ray on the machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Cluster:
    gcs: str  # for ray.init
    dashboard: str  # for the Jobs API
    client: str = ""  # ray://, for Ray Client
    temp: Path = Path()


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _procs() -> dict[int, tuple[int, int, str]]:
    """pid -> (ppid, pgid, cmdline) of every process we can read."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out[int(d.name)] = (int(fields[1]), int(fields[2]), cmd)
    return out


def _ours(pgid: int, temp: Path) -> set[int]:
    procs = _procs()
    mine = {p for p, (_, g, cmd) in procs.items() if g == pgid or str(temp) in cmd}
    grew = True
    while grew:  # and everything started below them (workers, job drivers)
        more = {p for p, (pp, _, _) in procs.items() if pp in mine} - mine
        mine |= more
        grew = bool(more)
    mine.discard(os.getpid())
    return mine


def kill_head(pgid: int, temp: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _ours(pgid, temp):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (3 if sig == signal.SIGTERM else 10)
        while _ours(pgid, temp) and time.monotonic() < deadline:
            time.sleep(0.3)


@contextlib.contextmanager
def ray_head(
    num_cpus: int, env_extra: dict[str, str], start_timeout_s: float = 180
) -> Iterator[Cluster]:
    """``ray start --head`` with ``env_extra`` in its environment; skips the test when
    there is no ``ray`` executable or the head does not start."""
    if not (BIN / "ray").exists():
        pytest.skip(f"no `ray` executable beside {sys.executable}")
    temp = Path(tempfile.mkdtemp(prefix="sp-ray-", dir="/tmp"))  # short: socket paths
    gcs, dash, client, nm, om, al, ag, rt, me = free_ports(9)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"  # job entrypoints' `python` = this venv
    env.update(env_extra)
    cmd = [str(BIN / "ray"), "start", "--head", "--num-cpus", str(num_cpus),
           "--disable-usage-stats", "--temp-dir", str(temp), "--node-ip-address", "127.0.0.1",
           "--port", str(gcs), "--include-dashboard", "true", "--dashboard-host", "127.0.0.1",
           "--dashboard-port", str(dash), "--ray-client-server-port", str(client),
           "--node-manager-port", str(nm), "--object-manager-port", str(om),
           "--dashboard-agent-listen-port", str(al), "--dashboard-agent-grpc-port", str(ag),
           "--runtime-env-agent-port", str(rt), "--metrics-export-port", str(me)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        try:
            out, _ = proc.communicate(timeout=start_timeout_s)
        except subprocess.TimeoutExpired:
            pytest.skip(f"`ray start --head` did not finish in {start_timeout_s:.0f} s")
        if proc.returncode != 0:
            pytest.skip("Ray cannot start here: " + out.decode(errors="replace")[-2000:])
        yield Cluster(
            f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dash}", f"ray://127.0.0.1:{client}", temp
        )
    finally:
        kill_head(proc.pid, temp)  # the new session's group id is the pid of `ray start`
        shutil.rmtree(temp, ignore_errors=True)
