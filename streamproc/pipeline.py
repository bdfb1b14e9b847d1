"""The composition module: every stage wired in the order the data flows.

    cameras -> Ingest (windows) -> frames topic -> StreamWorker -> model (Ray Serve)
            -> per-camera state (threshold store) -> smoothing/decisions
            -> scores topic / alerts topic

The same code runs embedded on one machine (memory transport, SQLite state, local Ray)
and distributed (Kafka, Redis, a Ray cluster); only the config differs. In a cluster
the ingest and worker roles run as separate processes (``streamproc ingest`` /
``streamproc worker``); ``streamproc run`` runs both roles in one process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.config import StreamprocConfig
from streamproc.config.data import WindowConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.config.worker import MetricsConfig
from streamproc.health import HEALTH
from streamproc.metrics import serve_metrics
from streamproc.model.artifact import Artifact, load_artifact
from streamproc.runtime.ingest import Ingest
from streamproc.runtime.positions import Positions
from streamproc.runtime.worker import StreamWorker
from streamproc.serving.client import HttpScorer, LocalScorer, ScorerClient, ServeScorer
from streamproc.serving.scorer import ScoringService
from streamproc.threshold import make_store
from streamproc.threshold.base import StateStore
from streamproc.threshold.policy import Calibrated, Policy, calibrated_from_stats
from streamproc.transport import make_transport, topic_specs
from streamproc.transport.base import Transport

log = logging.getLogger("streamproc.pipeline")
MessageHook = Callable[[str, dict[str, Any]], None]


def calibrated_from(art: Artifact) -> Calibrated:
    return calibrated_from_stats(art.stats, art.version)


def policy_for(cfg: StreamprocConfig, art: Artifact) -> Policy:
    """The decision policy: the artifact's smoothing (what it was evaluated with) unless
    the deployment config's ``smoothing`` section differs from the defaults."""
    own = cfg.smoothing != SmoothingConfig()
    smoothing = cfg.smoothing if own else art.config.smoothing
    return Policy(cfg.threshold, smoothing, cfg.alerts)


def make_scorer(cfg: StreamprocConfig, artifact: Path) -> ScorerClient:
    if cfg.serving.mode == "local":
        return LocalScorer(
            ScoringService(
                artifact,
                cfg.serving.device,
                cfg.serving.frame_cache_frames,
                cfg.serving.threads,
                cfg.serving.precision,
                cfg.serving.engine,
                cfg.serving.forward_windows,
            )
        )
    # With one replica every call lands on it anyway: one call per batch, not one per shard.
    shards = cfg.serving.camera_shards if cfg.serving.num_replicas != 1 else 0
    if cfg.serving.mode == "http":  # the app runs on the cluster already (the chart's)
        return HttpScorer(str(cfg.serving.url), cfg.serving.request_timeout_s, shards=shards)
    from streamproc.ray_cluster import ensure_ray
    from streamproc.serving.launch import launch

    if cfg.serving.deploy:
        launch(cfg.serving, artifact)
    else:
        ensure_ray(cfg.serving.ray_address)
    return ServeScorer(cfg.serving.app_name, cfg.serving.request_timeout_s, shards=shards)


def metrics_port(metrics: MetricsConfig, runs_workers: bool) -> int | None:
    """The metrics port of this process: ``port`` where stream workers run (alone or with
    ingest, as in `streamproc run`), ``ingest_port`` for an ingest-only process."""
    return metrics.port if runs_workers else metrics.ingest_port


@dataclass
class Pipeline:
    cfg: StreamprocConfig
    artifact_dir: Path
    on_message: MessageHook | None = None
    transport: Transport | None = None  # pass one to share an in-process broker
    store: StateStore | None = None
    scorer: ScorerClient | None = None
    workers: list[StreamWorker] = field(default_factory=list)
    ingest: Ingest | None = None
    from_start: bool = False  # ingest ignores stored camera positions (a new session)
    _threads: list[threading.Thread] = field(default_factory=list)
    _window: WindowConfig = field(default_factory=WindowConfig)

    def start(self, ingest: bool = True, workers: int | None = None, scorer: bool = True) -> None:
        cfg = self.cfg
        art = load_artifact(self.artifact_dir)
        self.transport = self.transport or make_transport(cfg.transport)
        self.transport.ensure_topics(topic_specs(cfg.transport, cfg.topics))
        n_workers = workers if workers is not None else cfg.worker.workers
        if n_workers:
            self.store = self.store or make_store(cfg.state)
            if scorer:
                self.scorer = self.scorer or make_scorer(cfg, self.artifact_dir)
        port = metrics_port(cfg.metrics, runs_workers=bool(n_workers))
        if port:
            try:
                serve_metrics(port)
            except OSError as err:
                log.warning("metrics port %d unavailable (%s); metrics disabled", port, err)
        HEALTH.stall_timeout_s = cfg.worker.stall_timeout_s
        if n_workers and self.store is not None:
            # /readyz: the store and the model answered (each raises a clear error if not).
            self.store.cameras()
            if self.scorer is not None:
                self.scorer.version()
        HEALTH.ready = True
        policy = policy_for(cfg, art)
        self._window = art.config.data.window  # what ingest cuts and the workers check
        for i in range(n_workers):
            self.add_worker(policy, calibrated_from(art), f"worker-{i}")
        if ingest:
            self.start_ingest()

    def start_ingest(self) -> None:
        """Start the cameras (separately callable, so a benchmark can warm the model up first)."""
        assert self.transport is not None
        w = self._window
        self.ingest = Ingest(
            self.cfg.cameras.enabled(),
            self.transport.producer(),
            self.cfg.topics.frames,
            window_length=w.length,
            window_stride=w.stride,
            max_message_bytes=self.cfg.worker.max_message_bytes,
            codec=self.cfg.cameras.codec,
            jpeg_quality=self.cfg.cameras.jpeg_quality,
            wire_version=self.cfg.cameras.wire_version,
            positions=self._positions if self._resumable() else None,
            from_start=self.from_start,
        )
        self.ingest.start()

    def _resumable(self) -> bool:
        """Camera positions only mean something if the sent windows outlive the process."""
        return self.cfg.cameras.resume and self.cfg.transport.type == "kafka"

    def _positions(self) -> Positions:
        self.store = self.store or make_store(self.cfg.state)
        return Positions(self.store)

    def add_worker(self, policy: Policy, cal: Calibrated, name: str) -> StreamWorker:
        assert self.transport is not None and self.store is not None and self.scorer is not None
        cfg = self.cfg
        worker = StreamWorker(
            self.transport.consumer([cfg.topics.frames], cfg.worker.group, name),
            self.transport.producer(),
            self.store,
            self.scorer,
            cfg.topics,
            policy,
            cal,
            cfg.worker.max_poll_records,
            cfg.worker.poll_timeout_s,
            self.on_message,
            cfg.worker.max_in_flight,
            window_length=self._window.length,
            retry_deadline_s=cfg.worker.retry_deadline_s,
            max_attempts=cfg.worker.max_attempts,
            frame_memory_bytes=cfg.worker.frame_memory_mb << 20,
        )
        t = threading.Thread(target=worker.run, name=name, daemon=True)
        self.workers.append(worker)
        self._threads.append(t)
        t.start()
        HEALTH.watch(worker, t)
        return worker

    def idle(self) -> bool:
        """True when ingest has finished and no worker has anything left to consume."""
        if self.ingest is not None and not self.ingest.finished:
            return False
        return all(not w.holding and sum(w.consumer.lag().values()) == 0 for w in self.workers)

    def stop(self) -> None:
        if self.ingest is not None:
            self.ingest.stop()
        for w in self.workers:
            w.stop()
        for t in self._threads:
            t.join(timeout=10)
        for w in self.workers:
            w.consumer.close()
            w.producer.close()
        if self.store is not None:
            self.store.close()
        HEALTH.forget()
