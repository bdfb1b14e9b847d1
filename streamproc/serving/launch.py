"""Start (or join) Ray and run the scoring application, for ``streamproc run`` and tests.

On Kubernetes the RayService runs the same application from the Serve config file
(``streamproc serve config``) instead; workers then only look the app up by name.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from streamproc.config.serving import ServingConfig
from streamproc.errors import StreamprocError
from streamproc.serving.app import AppArgs, bind_scorer, deployment_options

log = logging.getLogger("streamproc.serving")


def ensure_ray(address: str | None, num_cpus: int | None = None) -> None:
    import ray

    if ray.is_initialized():
        return
    try:
        if address:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        else:
            ray.init(
                num_cpus=num_cpus or os.cpu_count(),
                include_dashboard=False,
                ignore_reinit_error=True,
                log_to_driver=False,
            )
    except ConnectionError as err:
        raise StreamprocError(
            f"cannot reach the Ray cluster at {address!r}: {err}; check serving.ray_address "
            "(or --ray-address) and that `ray status` works there"
        ) from None


def launch(cfg: ServingConfig, artifact: str | Path) -> Any:
    """Deploy the scorer application and return its DeploymentHandle."""
    from ray import serve

    ensure_ray(cfg.ray_address)
    args = AppArgs(
        artifact=str(Path(artifact).resolve()),
        device=cfg.device,
        max_batch_size=cfg.max_batch_size,
        batch_wait_timeout_s=cfg.batch_wait_timeout_s,
    )
    opts = deployment_options(cfg)
    app = bind_scorer(args, opts)
    log.info("deploying Serve app %r (%s)", cfg.app_name, opts)
    return serve.run(app, name=cfg.app_name, route_prefix=None)


def shutdown() -> None:
    from ray import serve

    try:
        serve.shutdown()
    except Exception:  # shutting down must not raise
        log.debug("serve shutdown failed", exc_info=True)
