"""The model service of the Serve chaos scenarios: a private local Ray started by the
harness (``ensure_ray``), the scorer app deployed by ``serving.launch`` with Serve's HTTP
proxy on a free port, and the run's workers in ``serving.mode: http`` against its route,
as the Helm chart's workers reach the RayService. The faults: a replica SIGKILLed (found
by the process title Ray gives it, ``ray::ServeReplica:APP:DEPLOYMENT``, so only this
run's replicas match) and a replica hung (``serving.hangpoint``, armed through the
environment the replicas inherit from the Ray started here)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import TracebackType

from streamproc.config.serving import ServingConfig
from streamproc.evaluation.chaos.harness import Run
from streamproc.serving import hangpoint


class ModelService:
    """``with ModelService(run, timeout_s) as svc:`` Ray and the app up, workers pointed at
    it; on exit the app and Ray are shut down. ``hang`` = ``N:S`` arms every replica."""

    def __init__(self, run: Run, request_timeout_s: float, hang: str | None = None) -> None:
        self.run, self.hang = run, hang
        self.cfg = ServingConfig(
            app_name=f"chaos-{run.id}", num_cpus=1, threads=1, device="cpu", max_batch_size=16
        )
        from streamproc.serving.launch import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{self.cfg.route_prefix}"
        self.request_timeout_s = request_timeout_s

    def __enter__(self) -> ModelService:
        from streamproc.serving.launch import launch

        if self.hang:
            hangpoint.parse(self.hang)  # a bad spec fails here, not inside a replica
            os.environ[hangpoint.ENV] = self.hang  # the Ray started below passes it on
        try:
            launch(self.cfg, self.run.artifact, http_port=self.port)
        finally:
            os.environ.pop(hangpoint.ENV, None)
        self.run.set_serving(mode="http", url=self.url, request_timeout_s=self.request_timeout_s)
        self.run.log(f"{self.run.id}: Serve app {self.cfg.app_name} at {self.url}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import ray

        from streamproc.serving.launch import shutdown

        shutdown()
        ray.shutdown()

    def swap(self, artifact: Path) -> str:
        """Promote ``artifact`` as ``streamproc model promote --ray-address`` does: the app
        deployed again with it, the replicas reconfigured in place (a hot swap). Returns
        the version the replicas then report."""
        from streamproc.serving.launch import launch

        handle = launch(self.cfg, artifact, http_port=self.port)
        return str(handle.version.remote().result(timeout_s=120))

    def replica_pids(self) -> list[int]:
        title = f"ServeReplica:{self.cfg.app_name}:".encode()
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if title in (d / "cmdline").read_bytes():
                        pids.append(int(d.name))
                except OSError:
                    continue
        return pids

    def kill_replica(self) -> int:
        """SIGKILL the (one) replica; returns its pid."""
        pids = self.replica_pids()
        if not pids:
            raise RuntimeError(f"no replica of {self.cfg.app_name} runs")
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def wait_replaced(self, old: int, timeout_s: float) -> float | None:
        """Seconds until Serve started another replica process; None if none came."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            if [p for p in self.replica_pids() if p != old]:
                return time.monotonic() - t0
            time.sleep(0.2)
        return None
