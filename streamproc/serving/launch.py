"""Start (or join) Ray and run the scoring application, for ``streamproc run`` and tests.

On Kubernetes the RayService runs the same application from the Serve config file
(``streamproc serve config``) instead; workers then only look the app up by name.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from streamproc.config.serving import ServingConfig
from streamproc.errors import StreamprocError
from streamproc.ray_cluster import ensure_ray
from streamproc.serving.app import AppArgs, bind_scorer, deployment_options
from streamproc.verbosity import quiet_ray

log = logging.getLogger("streamproc.serving")


def launch(cfg: ServingConfig, artifact: str | Path, http_port: int | None = None) -> Any:
    """Deploy the scorer application and return its DeploymentHandle. ``http_port``: on a
    local Ray, also start Serve's HTTP proxy on 127.0.0.1 at that port with the app's
    route, so workers can use mode http as the chart's do (the chaos suite)."""
    from ray import serve

    quiet_ray()  # Serve set its logger's level when imported
    ensure_ray(cfg.ray_address)
    args = AppArgs(
        artifact=str(Path(artifact).resolve()),
        device=cfg.device,
        max_batch_size=cfg.max_batch_size,
        batch_wait_timeout_s=cfg.batch_wait_timeout_s,
        threads=cfg.threads,
        frame_cache_frames=cfg.frame_cache_frames,
        precision=cfg.precision,
        engine=cfg.engine,
        forward_windows=cfg.forward_windows,
        concurrent_batches=cfg.concurrent_batches,
    )
    opts = deployment_options(cfg)
    app = bind_scorer(args, opts)
    log.info("deploying Serve app %r (%s)", cfg.app_name, opts)
    try:
        if http_port is not None:
            serve.start(http_options={"host": "127.0.0.1", "port": http_port})
        elif not cfg.ray_address:
            # Workers call the app through handles only: no HTTP proxy, so a local Ray
            # never fights another process for port 8000.
            serve.start(proxy_location="Disabled")
        # On a cluster keep the app's HTTP route (the chart's workers use it, mode http).
        route = cfg.route_prefix if cfg.ray_address or http_port is not None else None
        return serve.run(app, name=cfg.app_name, route_prefix=route)
    except Exception as err:  # Ray's errors are long; say what failed and what to check
        raise StreamprocError(
            f"could not deploy the Serve app {cfg.app_name!r} with artifact {artifact}: "
            f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}; check "
            "`ray status`, free CPUs for serving.num_cpus, or use --local to score in-process"
        ) from None


def shutdown() -> None:
    from ray import serve

    try:
        serve.shutdown()
    except Exception:  # shutting down must not raise
        log.debug("serve shutdown failed", exc_info=True)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_http_app(
    cfg: ServingConfig, artifact: str | Path, port: int | None = None
) -> Iterator[str]:
    """The scorer app on a fresh local Ray with Serve's HTTP proxy on 127.0.0.1 (``port``,
    or a free one); yields the URL of its route, what ``serving.mode: http`` calls (as the
    chart's workers reach the RayService). Serve and Ray are shut down on exit; a Ray
    already running in this process is shut down first (its proxy settings are fixed)."""
    import ray

    if ray.is_initialized():
        shutdown()
        ray.shutdown()
    port = port or free_port()
    launch(cfg.model_copy(update={"ray_address": None}), artifact, http_port=port)
    try:
        yield f"http://127.0.0.1:{port}{cfg.route_prefix or '/'}"
    finally:
        shutdown()
        ray.shutdown()
