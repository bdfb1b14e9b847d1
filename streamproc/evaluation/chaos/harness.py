"""One chaos run against the real Kafka and Redis: its own topics, key prefix and
consumer group; stream workers as separate OS processes (so they can be SIGKILLed); an
in-process ingest of the synthetic cameras; a collector of everything the workers
published (with each frame's capture-to-score latency); the group's committed offsets
over time; the workers' peak RSS and their RSS once a second."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import streamproc
from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig
from streamproc.config.state import RedisStateConfig
from streamproc.config.transport import KafkaTransportConfig, TopicsConfig
from streamproc.evaluation.services import services_env
from streamproc.model.artifact import Artifact
from streamproc.runtime.ingest import Ingest
from streamproc.threshold import make_store
from streamproc.threshold.base import CameraSettings
from streamproc.transport import make_transport, topic_specs
from streamproc.transport.base import Record

ROOT = Path(streamproc.__file__).resolve().parents[1]


@dataclass
class Seen:
    """What the workers published, copies included (nothing hidden by a set)."""

    scores: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    first_at: dict[tuple[str, int], float] = field(default_factory=dict)
    latency: dict[tuple[str, int], float] = field(default_factory=dict)  # capture -> seen, s
    per_camera: Counter[str] = field(default_factory=Counter)  # frames scored, by camera
    score_copies: int = 0  # score messages for a (camera, seq) already seen
    alerts: list[dict[str, Any]] = field(default_factory=list)
    dead: list[Record] = field(default_factory=list)


class Run:
    def __init__(
        self,
        name: str,
        work: Path,
        artifact: Path,
        art: Artifact,
        clips: list[Path],
        log: Callable[[str], None] = print,
    ) -> None:
        bootstrap, redis = services_env("the chaos suite")
        self.name, self.log, self.artifact, self.art = name, log, artifact, art
        self.id = f"{name}-{uuid.uuid4().hex[:6]}"
        self.dir = work / "runs" / self.id
        self.dir.mkdir(parents=True)
        cfg = StreamprocConfig()
        cfg.transport = KafkaTransportConfig(
            type="kafka",
            bootstrap_servers=bootstrap,
            partitions=4,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
        )
        cfg.state = RedisStateConfig(type="redis", url=redis, key_prefix=f"chaos-{self.id}")
        cfg.topics = TopicsConfig.for_run("chaos", self.id)
        cfg.serving.mode = "local"
        cfg.serving.threads = 1
        cfg.metrics.port = None
        cfg.smoothing = art.config.smoothing  # what the reference pass applies too
        cfg.worker.max_poll_records = 2
        cfg.worker.group = f"chaos-{self.id}"
        self.cfg, self.bootstrap = cfg, bootstrap
        self.cameras = [
            CameraConfig(id=f"cam{i}", source=str(d), realtime=False) for i, d in enumerate(clips)
        ]
        self.frames = {c.id: len(list(Path(c.source).glob("*.png"))) for c in self.cameras}
        self.cfg_file = self.dir / "config.yaml"
        # All of it: a section left out would fall back to its defaults in the worker
        # (Ray Serve scoring, the metrics port, the shared consumer group).
        dump = cfg.model_dump(mode="json")
        self.cfg_file.write_text(yaml.safe_dump(dump))
        self.transport = make_transport(cfg.transport)
        self.transport.ensure_topics(topic_specs(cfg.transport, cfg.topics))
        self.producer = self.transport.producer()
        self.store = make_store(cfg.state)
        self.threshold = float(art.stats["mean"])  # low on purpose: many incidents
        for c in self.cameras:
            self.store.set_settings(c.id, CameraSettings(threshold=self.threshold))
        self.seen = Seen()
        self._other_ids: set[str] = set()  # cameras ingested besides the judged ones
        self.stream = ""
        self._ingest: Ingest | None = None  # a paced ingest still running
        self.workers: list[subprocess.Popen[bytes]] = []
        self.peak_rss_kib: dict[int, int] = {}
        # (monotonic time, the live workers' summed VmRSS in KiB), once a second: RSS over
        # time, not only its peak (one float pair a second: 10 minutes are 600 of them).
        self.rss: list[tuple[float, int]] = []
        self.committed: list[tuple[float, int]] = []  # (monotonic time, sum of offsets)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._collector = self.transport.consumer(
            [cfg.topics.scores, cfg.topics.alerts, cfg.topics.dead_letter], f"collector-{self.id}"
        )
        self._threads = [
            threading.Thread(target=self._collect, daemon=True),
            threading.Thread(target=self._watch, daemon=True),
        ]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ input
    def set_serving(self, **update: Any) -> None:
        """Change the workers' ``serving`` section (before any worker starts)."""
        self.cfg.serving = self.cfg.serving.model_copy(update=update)
        self.cfg_file.write_text(yaml.safe_dump(self.cfg.model_dump(mode="json")))

    def set_clients(
        self, transport: dict[str, Any], state: dict[str, Any], worker: dict[str, Any]
    ) -> None:
        """Change the workers' transport, state and worker sections (before any starts):
        e.g. client deadlines far shorter than an outage."""
        self.cfg.transport = self.cfg.transport.model_copy(update=transport)
        self.cfg.state = self.cfg.state.model_copy(update=state)
        self.cfg.worker = self.cfg.worker.model_copy(update=worker)
        self.cfg_file.write_text(yaml.safe_dump(self.cfg.model_dump(mode="json")))

    def use_cameras(self, cameras: list[CameraConfig], frames: dict[str, int]) -> None:
        """Judge these cameras (e.g. long video clips) instead of the run's own."""
        for c in self.cameras:
            self.store.delete(c.id)
        self.cameras, self.frames = cameras, frames
        for c in cameras:
            self.store.set_settings(c.id, CameraSettings(threshold=self.threshold))

    def ingest(self, fps: float | None = None, cameras: list[CameraConfig] | None = None) -> None:
        """Every camera's windows to the frames topic, then return; with ``fps`` the
        cameras are paced and this returns at once (``close`` stops them). ``cameras``:
        others than the judged ones (a warm-up), whose stream the oracle does not use."""
        w = self.art.config.data.window
        judged = cameras is None
        cameras = self.cameras if cameras is None else cameras
        self._other_ids |= {c.id for c in cameras}
        if fps is not None:
            cameras = [c.model_copy(update={"realtime": True, "source_fps": fps}) for c in cameras]
        ing = Ingest(
            cameras,
            self.producer,
            self.cfg.topics.frames,
            window_length=w.length,
            window_stride=w.stride,
        )
        if judged:
            self.stream = ing.stream  # the capture session: part of every alert's event_id
        ing.start()
        if fps is not None:
            self._ingest = ing
        elif not (ing.join(120) and ing.stop()):
            raise RuntimeError(f"{self.id}: ingest did not finish in 120 s")

    def send_raw(self, values: list[bytes]) -> None:
        """Messages straight to the frames topic, keyed like the healthy cameras so they
        land among them."""
        for i, v in enumerate(values):
            key = self.cameras[i % len(self.cameras)].id.encode()
            self.producer.send(self.cfg.topics.frames, v, key)
        self.producer.flush()

    # ------------------------------------------------------------------ workers
    def start_worker(self, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "streamproc", "worker", "--config", str(self.cfg_file)]
        cmd += ["--artifact", str(self.artifact)]
        log = (self.dir / "workers.log").open("ab")
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=ROOT)
        log.close()
        with self._lock:
            self.workers.append(p)
        return p

    def ready_workers(self) -> int:
        """Workers that said they joined their group (`worker: N consumer(s) ...`)."""
        log = self.dir / "workers.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return sum(1 for line in text.splitlines() if line.startswith("worker: "))

    def worker_log_count(self, text: str) -> int:
        """Lines of the workers' log that contain ``text``."""
        log = self.dir / "workers.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return sum(1 for line in lines if text in line)

    def wait_ready(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.ready_workers() < n and time.monotonic() < deadline:
            time.sleep(0.2)
        return self.ready_workers() >= n

    def stop_worker(self, p: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if p.poll() is None:
            p.send_signal(sig)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)

    def wait_exit(self, p: subprocess.Popen[bytes], timeout_s: float) -> int | None:
        """The worker's exit code; None if it still runs after ``timeout_s`` or once every
        frame is scored (a fault that never fired)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.scored() < self.total_frames:
            rc = p.poll()
            if rc is not None:
                return rc
            time.sleep(0.05)
        return p.poll()

    # ------------------------------------------------------------------ progress
    @property
    def total_frames(self) -> int:
        return sum(self.frames.values())

    def scored(self) -> int:
        """Frames of the judged cameras scored so far."""
        with self._lock:
            return sum(self.seen.per_camera[c] for c in self.frames)

    def wait_scored(self, n: int, timeout_s: float) -> bool:
        """Wait until ``n`` frames are scored; False on timeout or once every worker
        started has exited (see workers.log)."""
        deadline = time.monotonic() + timeout_s
        while self.scored() < n and time.monotonic() < deadline:
            with self._lock:
                if self.workers and all(p.poll() is not None for p in self.workers):
                    break
            time.sleep(0.1)
        return self.scored() >= n

    def settle(self, quiet_s: float = 3.0, timeout_s: float = 30.0) -> None:
        """Wait until nothing new arrived for ``quiet_s`` (trailing alerts, dead letters)."""
        deadline = time.monotonic() + timeout_s
        last = -1
        while time.monotonic() < deadline:
            with self._lock:
                now = len(self.seen.scores) + len(self.seen.alerts) + len(self.seen.dead)
                now += self.seen.score_copies
            if now == last:
                return
            last = now
            time.sleep(quiet_s)

    def committed_now(self) -> int:
        with self._lock:
            return self.committed[-1][1] if self.committed else 0

    def recovery_s(self, fault_at: float, before: int, since: float | None = None) -> float | None:
        """Seconds from ``fault_at`` (monotonic) to the first commit past ``before`` (the
        group's committed total at ``since``, default ``fault_at``): with ``since`` = when
        a restarted service was back, the batches already past it when it failed do not
        count as recovery."""
        since = fault_at if since is None else since
        with self._lock:
            for t, total in self.committed:
                if t >= since and total > before:
                    return t - fault_at
        return None

    def _collect(self) -> None:
        topics = self.cfg.topics
        while not self._stop.is_set():
            try:
                records = self._collector.poll(500, 0.3)
            except Exception:  # a broker outage: keep polling until it is back
                time.sleep(0.5)
                continue
            now = time.monotonic()
            with self._lock:
                for r in records:
                    if r.topic == topics.dead_letter:
                        self.seen.dead.append(r)
                        continue
                    p = json.loads(r.value)
                    if r.topic == topics.alerts:
                        self.seen.alerts.append(p)
                        continue
                    key = (p["camera"], int(p["seq"]))
                    if key in self.seen.scores:
                        self.seen.score_copies += 1
                    else:
                        self.seen.scores[key] = p
                        self.seen.first_at[key] = now
                        self.seen.latency[key] = time.time() - float(p["time"])
                        self.seen.per_camera[key[0]] += 1

    def _watch(self) -> None:
        """Every 0.25 s: the workers' VmHWM (peak RSS, from /proc) and the group's
        committed offsets (the progress the recovery time is measured to)."""
        admin: Any = None
        rss_at = 0.0
        while not self._stop.wait(0.25):
            with self._lock:
                live = [p.pid for p in self.workers if p.poll() is None]
            for pid in live:
                kib = _vm_kib(pid, "VmHWM")
                if kib is not None:
                    self.peak_rss_kib[pid] = max(self.peak_rss_kib.get(pid, 0), kib)
            if time.monotonic() - rss_at >= 1.0:
                rss_at = time.monotonic()
                self.rss.append((rss_at, sum(_vm_kib(pid, "VmRSS") or 0 for pid in live)))
            try:
                if admin is None:
                    admin = _admin(self.bootstrap)
                group = self.cfg.worker.group
                offsets = admin.list_group_offsets(group).get(group, {})
                total = sum(o.offset for o in offsets.values() if o.offset >= 0)
            except Exception:  # the broker is down: no progress is visible
                admin = _close(admin)
                continue
            with self._lock:
                if not self.committed or self.committed[-1][1] != total:
                    self.committed.append((time.monotonic(), total))

    # ------------------------------------------------------------------ teardown
    def close(self) -> None:
        if self._ingest is not None:
            self._ingest.stop()
        with self._lock:
            workers = list(self.workers)
        for p in workers:
            self.stop_worker(p)
        self._stop.set()
        for t in self._threads:
            t.join(10)
        self._collector.close()
        self.producer.close()
        try:  # best effort: a scenario that left redis down must not hide the others' rows
            for cam in {c.id for c in self.cameras} | self._other_ids:
                self.store.delete(cam)
        except Exception as err:
            self.log(f"{self.id}: could not delete its camera keys ({err})")
        self.store.close()
        self.transport.close()
        admin = None
        try:  # best effort: a run's topics are of no use after its row is printed
            admin = _admin(self.bootstrap)
            topics = self.cfg.topics
            admin.delete_topics([topics.frames, topics.scores, topics.alerts, topics.dead_letter])
        except Exception as err:
            self.log(f"{self.id}: could not delete its topics ({err})")
        _close(admin)


def _vm_kib(pid: int, field: str) -> int | None:
    """``VmHWM`` (peak RSS) or ``VmRSS`` of a process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _admin(bootstrap: str) -> Any:
    from kafka import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)


def _close(admin: Any) -> Any:
    if admin is not None:
        with contextlib.suppress(Exception):
            admin.close()
    return None
