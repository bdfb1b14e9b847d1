"""The Ray Serve deployment that scores windows."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from streamproc.config.base import StrictModel


class AutoscalingConfig(StrictModel):
    min_replicas: int = Field(1, ge=0, description="Fewest replicas kept running.")
    max_replicas: int = Field(4, ge=1, description="Most replicas Serve may start.")
    target_ongoing_requests: float = Field(
        8.0, gt=0, description="Requests per replica Serve scales towards."
    )


class ServingConfig(StrictModel):
    mode: Literal["serve", "http", "local"] = Field(
        "serve",
        description="'serve' = Ray Serve deployment through a handle (local Ray or "
        "ray_address); 'http' = the running Serve app's HTTP route at `url` (no Ray in the "
        "worker); 'local' = score in the worker process (no Ray; for debugging).",
    )
    url: str | None = Field(
        None,
        description="mode 'http': the Serve HTTP route, e.g. "
        "http://RELEASE-serve-svc:8000/streamproc (Serve's port and `route_prefix`).",
    )
    route_prefix: str | None = Field(
        "/streamproc",
        description="Route of the Serve app on Serve's HTTP proxy (what mode 'http' calls); "
        "None = no HTTP route, handles only.",
    )
    app_name: str = Field("streamproc", description="Serve application name.")
    deployment_name: str = Field("AnomalyScorer", description="Serve deployment name.")
    artifact: str | None = Field(
        None, description="Model artifact directory; `streamproc run --artifact` overrides it."
    )
    camera_shards: int = Field(
        8,
        ge=0,
        le=256,
        description="Cameras are hashed into this many shards, and the scorer's router "
        "sends all of a shard's windows to one replica (rendezvous hashing over the "
        "replicas), so a camera's frames hit that replica's frame cache; keep it at least "
        "the replica count. 0 = each batch to any replica; with num_replicas 1 a worker "
        "sends each batch whole (nothing to choose between).",
    )
    num_replicas: int | Literal["auto"] = Field(
        1, description="Fixed replica count, or 'auto' to use `autoscaling`."
    )
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)
    num_cpus: float = Field(1.0, ge=0, description="CPUs reserved per replica.")
    num_gpus: float = Field(0.0, ge=0, description="GPUs per replica (fractions share a GPU).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Torch device in a replica.")
    threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads per replica for torch and OpenCV (the optical flow), and "
        "for the in-process model of mode local; None = the libraries' defaults (in a "
        "replica, Ray sets OMP_NUM_THREADS from num_cpus). On one machine with one "
        "replica, the machine's core count lets the model use every core.",
    )
    frame_cache_frames: int = Field(
        1024,
        ge=0,
        description="Preprocessed frames a scorer keeps (by content, LRU), so the frames "
        "consecutive windows share are preprocessed (optical flow) once; about 110 KB each "
        "at the default input size; 0 = off. Windows of a camera must reach the same "
        "replica for hits.",
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="The network's arithmetic: fp32, or bf16/fp16 autocast; 'auto' = bf16 "
        "where the replica's device computes it natively (a CPU with AMX or AVX512-BF16, a "
        "GPU with bf16 support), fp32 elsewhere (on a CPU, bf16 pays only where it is native). "
        "`streamproc bench model` measures each (speed, score change, "
        "calibration shift); `streamproc eval --precision` scores the same way.",
    )
    engine: Literal["eager", "compile"] = Field(
        "eager",
        description="How the network runs: 'eager' torch, or 'compile' (torch.compile: "
        "fused kernels, the same scores; needs a C++ compiler in the replica image and "
        "compiles when a replica loads a model: about 55 CPU seconds with an empty Inductor "
        "cache, a few with a warm one (TORCHINDUCTOR_CACHE_DIR on a volume keeps it). "
        "`streamproc bench model` measures it; BENCHMARKS.md has it end to end.",
    )
    forward_windows: int | None = Field(
        None,
        ge=1,
        description="Most windows in one forward pass of the network; a larger batch is cut "
        "into passes of this size. None: 8 on a CPU (the cheapest per frame measured: larger "
        "passes spill the caches, 32 windows cost 1.2-1.5x per frame), unbounded on a GPU.",
    )
    concurrent_batches: int | None = Field(
        None,
        ge=1,
        description="Most model batches a replica scores at once, each on its own thread "
        "off its event loop. None: all of a call's batches at once (Python's default pool, "
        "up to 32 threads), so one batch's preprocessing overlaps another's forward; 1 "
        "keeps a replica to one core at a time (measured on 2 cores: 17-19% fewer frames/s "
        "and no CPU per frame saved, BENCHMARKS.md, session 10).",
    )
    max_batch_size: int = Field(16, ge=1, description="@serve.batch: windows per model call.")
    batch_wait_timeout_s: float = Field(
        0.01, ge=0, description="@serve.batch: wait this long to fill a batch."
    )
    request_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A worker waits this long for one batch's scores; then it cancels the "
        "request (so an overloaded replica does not score it anyway) and retries the batch.",
    )
    max_ongoing_requests: int = Field(64, ge=1, description="Per-replica request limit.")
    deploy: bool = Field(
        True,
        description="Deploy the Serve app when the pipeline starts; false = use the app "
        "already running on the cluster (a KubeRay RayService), found by app_name.",
    )
    ray_address: str | None = Field(
        None, description="Ray cluster to connect to; None = start or join a local Ray."
    )
    heatmaps: bool = Field(
        True, description="Attach a small heatmap thumbnail to windows that may alert."
    )

    @model_validator(mode="after")
    def _http_url(self) -> ServingConfig:
        if self.mode == "http" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError(
                f"serving.mode is 'http' but serving.url is {self.url!r}; expected the Serve "
                "route, e.g. http://RELEASE-serve-svc:8000/streamproc"
            )
        if self.route_prefix is not None and not self.route_prefix.startswith("/"):
            raise ValueError(f"serving.route_prefix must start with '/', got {self.route_prefix!r}")
        return self

    @model_validator(mode="after")
    def _gpu_device(self) -> ServingConfig:
        if self.device == "cuda" and self.num_gpus == 0 and self.mode == "serve":
            raise ValueError("serving.device is 'cuda' but serving.num_gpus is 0; set num_gpus > 0")
        return self


# What a replica runs when the config says nothing: the defaults of every other way in to
# the scorer (the Serve app's arguments, `streamproc eval`, recalibration) follow these.
DEFAULT_PRECISION = ServingConfig.model_fields["precision"].default
DEFAULT_ENGINE = ServingConfig.model_fields["engine"].default
