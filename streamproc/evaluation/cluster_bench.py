"""`streamproc bench cluster`: the multi-host run of issue 13 on one machine.

`scripts/cluster.sh up` makes every host a network namespace (three Kafka brokers,
Redis, a Ray head and a Ray worker node running the Serve replicas). This driver deploys
the Serve app with the given artifact, starts two stream workers (`serving.mode: http`,
no Ray Client) and two ingest shards in their own namespaces, replays the test clips of
a labelled dataset as cameras, injects one fault mid-run, reads the published scores and
alerts back and compares them with the detection core's streaming evaluation (the
helpers of `pipeline_bench`).

Faults (`--fault`): `broker` (kafka2 SIGKILLed, restarted after the run), `ray-worker`
(the Ray worker node SIGKILLed, restarted `--restart-after` s later), `stream-worker`
(worker2 SIGKILLed for good), `ingest` (shard ingest2 SIGKILLed and restarted: its
cameras, files, continue after the last acknowledged window in the same capture session),
`partition` (worker2's link down for `--partition-s`).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from streamproc.config import StreamprocConfig
from streamproc.config.alerts import AlertsConfig
from streamproc.config.cameras import CameraConfig
from streamproc.config.serving import ServingConfig
from streamproc.config.state import RedisStateConfig
from streamproc.config.threshold import ThresholdConfig
from streamproc.config.transport import KafkaTransportConfig, TopicsConfig
from streamproc.errors import ConfigError
from streamproc.evaluation.metrics import micro_auc
from streamproc.evaluation.pipeline_bench import Collected, alert_quality, collect
from streamproc.evaluation.runner import report_for, score_dataset
from streamproc.model.artifact import load_artifact
from streamproc.sources.dataset import open_split
from streamproc.threshold.policy import Policy, calibrated_from_stats
from streamproc.transport import make_transport, topic_specs
from streamproc.windowing.windows import window_starts

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SH = REPO / "scripts" / "cluster.sh"
NET = "10.77.0"
BOOTSTRAP = f"{NET}.11:9092,{NET}.12:9092,{NET}.13:9092"
REDIS_URL = f"redis://{NET}.20:6379/0"
SERVE_URL = f"http://{NET}.30:8000/streamproc"
FAULTS = ("none", "broker", "ray-worker", "stream-worker", "ingest", "partition")


def cluster(*args: str) -> None:
    subprocess.run(["bash", str(CLUSTER_SH), *args], check=True)


def subset(data: Path, cameras: int | None, frames: int | None, out: Path) -> Path:
    """The first ``cameras`` test clips of ``data``, each cut to its first ``frames``
    frames (links to the original images), with their labels."""
    clips = open_split(data, "test", require_labels=True)[:cameras]
    labels: dict[str, list[int]] = {}
    for c in clips:
        if not c.path.is_dir():
            raise ConfigError(f"--frames needs frame-folder clips, {c.path} is a file")
        images = sorted(p for p in c.path.iterdir() if p.is_file())[:frames]
        (out / "test" / c.name).mkdir(parents=True)
        for p in images:
            (out / "test" / c.name / p.name).symlink_to(p.resolve())
        assert c.labels is not None
        labels[c.name] = [int(x) for x in c.labels[: len(images)]]
    (out / "test_labels.json").write_text(json.dumps(labels))
    return out


def cluster_config(
    run_id: str, data: Path, artifact: Path, fps: float, threshold_k: float | None = None
) -> StreamprocConfig:
    cfg = StreamprocConfig()
    cfg.transport = KafkaTransportConfig(
        bootstrap_servers=BOOTSTRAP, partitions=6, replication=3, min_insync_replicas=2
    )
    cfg.state = RedisStateConfig(url=REDIS_URL, key_prefix=f"cluster-{run_id}")
    cfg.topics = TopicsConfig.for_run("cluster", run_id)
    cfg.serving = ServingConfig(
        mode="http", url=SERVE_URL, artifact=str(artifact), request_timeout_s=15
    )
    cfg.worker.group = f"cluster-{run_id}-workers"
    cfg.metrics.port = None
    cfg.smoothing = load_artifact(artifact).config.smoothing
    cfg.threshold = ThresholdConfig(k=threshold_k)
    cfg.cameras.cameras = [
        CameraConfig(id=f"clip-{c.name}", source=str(c.path), source_fps=fps, realtime=True)
        for c in open_split(data, "test", require_labels=True)
    ]
    return cfg


class Role:
    """A streamproc process (ingest shard or stream worker) in a host's namespace."""

    def __init__(self, host: str, args: list[str], logs: Path) -> None:
        self.host, self.args, self.log_path = host, args, logs / f"{host}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = ["ip", "netns", "exec", f"sp-{self.host}", sys.executable, "-m", "streamproc"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [*cmd, *self.args], cwd=REPO, env=env, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip

    def wait_line(self, text: str, timeout_s: float) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"{self.host} did not say {text!r}; see {self.log_path}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
                self.proc.wait(5)


def recovery_s(got: Collected, fault_t: float | None) -> float | None:
    """Longest pause in any camera's newly published scores from the fault on (the
    time the worst-hit camera waited); None without a fault."""
    if fault_t is None:
        return None
    per_cam: dict[str, list[float]] = {}
    for (cam, _), t in got.received_at.items():
        per_cam.setdefault(cam, []).append(t)
    worst = 0.0
    for times in per_cam.values():
        ts = sorted(times)
        for a, b in itertools.pairwise(ts):
            if b > fault_t:
                worst = max(worst, b - max(a, fault_t))
    return worst


def inject(fault: str, roles: dict[str, Role], restart_after: float, partition_s: float) -> None:
    if fault == "broker":
        cluster("kill", "kafka2")
    elif fault == "ray-worker":
        cluster("kill", "rayworker")
        time.sleep(restart_after)
        cluster("start", "rayworker")
    elif fault == "stream-worker":
        roles["worker2"].kill()
    elif fault == "ingest":
        roles["ingest2"].kill()
        time.sleep(restart_after)
        roles["ingest2"].start()
    elif fault == "partition":
        cluster("link", "worker2", "down")
        time.sleep(partition_s)
        cluster("link", "worker2", "up")


def run_cluster_bench(
    data: Path,
    artifact: Path,
    fault: str = "none",
    cameras: int | None = None,
    frames: int | None = None,
    fps: float = 5.0,
    fault_at_s: float = 8.0,
    restart_after_s: float = 5.0,
    partition_s: float = 20.0,
    timeout_s: float = 300.0,
    threshold_k: float | None = None,
    run_dir: Path = Path("/tmp/streamproc-cluster"),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    if fault not in FAULTS:
        raise ConfigError(f"--fault must be one of {', '.join(FAULTS)}; got {fault!r}")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise ConfigError("the cluster bench needs root and `ip` (network namespaces)")
    run_id = uuid.uuid4().hex[:8]
    out = run_dir / "runs" / run_id
    out.mkdir(parents=True)
    if cameras or frames:
        data = subset(data, cameras, frames, out / "data")
    artifact = artifact.resolve()
    cfg = cluster_config(run_id, data, artifact, fps, threshold_k)
    config = out / "config.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    clips = open_split(data, "test", require_labels=True)
    labels = {f"clip-{c.name}": c.labels for c in clips if c.labels is not None}
    expected = {cam: len(lab) for cam, lab in labels.items()}
    total = sum(expected.values())
    log(f"run {run_id}: {len(clips)} cameras, {total} frames at {fps} fps, fault {fault}")
    cluster("serve", str(artifact))
    transport = make_transport(cfg.transport)
    transport.ensure_topics(topic_specs(cfg.transport, cfg.topics))
    base = ["--config", str(config), "--artifact", str(artifact)]
    roles = {
        "worker1": Role("worker1", ["worker", *base], out),
        "worker2": Role("worker2", ["worker", *base], out),
        "ingest1": Role("ingest1", ["ingest", *base, "--shard", "0/2"], out),
        "ingest2": Role("ingest2", ["ingest", *base, "--shard", "1/2"], out),
    }
    got = Collected({}, {}, [], 0)
    fault_t: float | None = None
    t0 = time.time()
    try:
        for name in ("worker1", "worker2"):
            roles[name].start()
        for name in ("worker1", "worker2"):
            roles[name].wait_line("consumer(s) in group", 180)
        collector = transport.consumer([cfg.topics.scores, cfg.topics.alerts], f"collect-{run_id}")
        collector.poll(1, 1.0)  # join the group before the first score is published
        for name in ("ingest1", "ingest2"):
            roles[name].start()
        t0 = time.time()
        log(f"workers up, ingest started; logs in {out}")
        injector: threading.Thread | None = None
        first: float | None = None  # the first score: the cluster is up and flowing
        deadline = t0 + timeout_s
        while len(got.scores) < total and time.time() < deadline:
            if first is None and got.scores:
                first = time.time()
            if fault != "none" and injector is None and first and time.time() > first + fault_at_s:
                fault_t = time.time()
                log(f"fault {fault} at {fault_t - t0:.1f}s ({len(got.scores)} frames scored)")
                injector = threading.Thread(
                    target=inject, args=(fault, roles, restart_after_s, partition_s)
                )
                injector.start()
            collect(collector.poll(500, 0.5), got, cfg.topics.scores)
        t_end = max(got.received_at.values(), default=time.time())
        collect(collector.poll(500, 3.0), got, cfg.topics.scores)  # trailing alert ends
        if injector is not None:
            injector.join()
        collector.close()
    finally:
        for role in roles.values():
            role.stop()
        transport.close()
        if fault == "broker":
            cluster("start", "kafka2")
        if fault == "partition":
            cluster("link", "worker2", "up")

    def published(field: str) -> dict[str, np.ndarray]:
        series = {
            cam: np.array([got.scores.get((cam, i), {}).get(field, np.nan) for i in range(n)])
            for cam, n in expected.items()
        }
        return {cam: s for cam, s in series.items() if not np.isnan(s).any()}

    art = load_artifact(artifact)
    w = art.config.data.window
    lost = sum(
        any((cam, f) not in got.scores for f in range(s, s + w.length))
        for cam, n in expected.items()
        for s in window_starts(n, w.length, w.stride)
    )
    complete = published("normalized")
    scored = score_dataset(art, data, art.config.evaluation.batch_size)
    # The streaming protocol with the workers' own policy (a --threshold-k included).
    policy = Policy(cfg.threshold, art.config.smoothing, AlertsConfig())
    cal = calibrated_from_stats(art.stats, art.version)
    eval_rep, _ = report_for(scored, "streaming", cal, art.config, {}, policy)
    quality = alert_quality(got.alerts, labels)
    return {
        "run": run_id,
        "fault": fault,
        "cameras": len(clips),
        "frames": total,
        "frames_scored": len(got.scores),
        "windows_lost": lost,
        "duplicate_alert_ids": quality["duplicate_alerts"],
        "alert_messages_redelivered": quality["alert_messages_redelivered"],
        "alert_events": quality["alert_events"],
        "score_messages_redelivered": got.redelivered,
        "recovery_s": recovery_s(got, fault_t),
        "fault_at_s": None if fault_t is None else fault_t - t0,
        "run_s": t_end - t0,
        "micro_auc": (micro_auc(complete, {k: labels[k] for k in complete}) if complete else None),
        "cameras_complete": len(complete),
        "eval_micro_auc": eval_rep["micro_auc"],
        "alert_recall": quality["alert_recall"],
        "eval_event_recall": eval_rep.get("event_recall"),
        "threshold_k": threshold_k,
        "model_version": art.version,
        "logs": str(out),
    }
