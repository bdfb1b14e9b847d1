"""The typed Serve application builder and the Serve config it is deployed with.

    serve run streamproc.serving.app:build_app artifact=/path/to/artifact
    serve deploy serve_config.yaml        # the file `streamproc serve config` writes

The Helm chart embeds the same file (``serveConfigV2`` of the RayService).
"""

from __future__ import annotations

from typing import Any, Literal, cast

from pydantic import BaseModel, Field
from ray.serve import Application

from streamproc.config.serving import DEFAULT_ENGINE, DEFAULT_PRECISION, ServingConfig
from streamproc.serving.deployment import AnomalyScorer

IMPORT_PATH = "streamproc.serving.app:build_app"


class AppArgs(BaseModel):
    artifact: str = Field(description="Model artifact directory visible to every replica.")
    device: str = Field("auto", description="auto, cpu or cuda.")
    max_batch_size: int = Field(16, ge=1)
    batch_wait_timeout_s: float = Field(0.01, ge=0)
    threads: int | None = Field(None, ge=1, description="torch CPU threads; None = Ray's.")
    frame_cache_frames: int = Field(1024, ge=0, description="serving.frame_cache_frames.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        DEFAULT_PRECISION, description="serving.precision."
    )
    engine: Literal["eager", "compile"] = Field(DEFAULT_ENGINE, description="serving.engine.")
    forward_windows: int | None = Field(None, ge=1, description="serving.forward_windows.")
    concurrent_batches: int | None = Field(None, ge=1, description="serving.concurrent_batches.")


def bind_scorer(args: AppArgs, options: dict[str, Any] | None = None) -> Application:
    """The scorer deployment bound to its arguments, with extra deployment options."""
    scorer = cast(Any, AnomalyScorer).options(
        user_config={"artifact": args.artifact}, **(options or {})
    )
    return cast(
        Application,
        scorer.bind(
            args.artifact,
            args.device,
            args.max_batch_size,
            args.batch_wait_timeout_s,
            args.threads,
            args.frame_cache_frames,
            args.precision,
            args.engine,
            args.forward_windows,
            args.concurrent_batches,
        ),
    )


def build_app(args: AppArgs) -> Application:
    """Entry point of ``serve run`` / a Serve config file (replica options come from the
    file's ``deployments`` section)."""
    return bind_scorer(args)


def deployment_options(cfg: ServingConfig) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "max_ongoing_requests": cfg.max_ongoing_requests,
        "ray_actor_options": {"num_cpus": cfg.num_cpus, "num_gpus": cfg.num_gpus},
    }
    if cfg.num_replicas == "auto":
        a = cfg.autoscaling
        opts["autoscaling_config"] = {
            "min_replicas": a.min_replicas,
            "max_replicas": a.max_replicas,
            "target_ongoing_requests": a.target_ongoing_requests,
        }
    else:
        opts["num_replicas"] = cfg.num_replicas
    return opts


def serve_config(cfg: ServingConfig, artifact: str) -> dict[str, Any]:
    """A standard Serve config file (``serve deploy``), also embedded by the Helm chart."""
    deployment = {
        "name": cfg.deployment_name,
        **deployment_options(cfg),
        "user_config": {"artifact": artifact},
    }
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": 8000},
        "applications": [
            {
                "name": cfg.app_name,
                "route_prefix": cfg.route_prefix,
                "import_path": IMPORT_PATH,
                "args": {
                    "artifact": artifact,
                    "device": cfg.device,
                    "max_batch_size": cfg.max_batch_size,
                    "batch_wait_timeout_s": cfg.batch_wait_timeout_s,
                    "threads": cfg.threads,
                    "frame_cache_frames": cfg.frame_cache_frames,
                    "precision": cfg.precision,
                    "engine": cfg.engine,
                    "forward_windows": cfg.forward_windows,
                    "concurrent_batches": cfg.concurrent_batches,
                },
                "deployments": [deployment],
            }
        ],
    }
