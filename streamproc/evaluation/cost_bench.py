"""`streamproc bench cost`: what one camera costs.

Replays a labelled dataset's test clips as cameras through the pipeline (as `bench
pipeline` does) once per layout (workers x Serve replicas) and variant (config
overrides, e.g. a cut switched off), and reports from each run, between the moment the
cameras start and the moment the last score arrives:

- CPU seconds per 1,000 frames (= CPU ms per frame) of every process: the streamproc
  process (ingest and workers, and the model in local scoring), the Serve replicas (reached
  through a handle, or with ``scoring`` http through Serve's HTTP ingress), Ray's
  own processes, the Kafka broker and redis-server; from the processes' own accounting
  (user + system time), so a shared machine's load does not inflate it as it does wall
  time;
- the same for each stage of the streamproc process (``streamproc.cpu``), and what its
  threads spent outside any stage (client IO threads, library thread pools, GC);
- bytes per frame on the frames topic, Redis commands per window and Redis memory per
  camera, frames/s, and the published scores' AUC beside `streamproc eval`'s.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np
import psutil

from streamproc.config import StreamprocConfig, apply_overrides, parse_override
from streamproc.config.state import RedisStateConfig
from streamproc.config.transport import KafkaTransportConfig
from streamproc.cpu import STAGES, stage_totals
from streamproc.errors import ConfigError
from streamproc.evaluation.metrics import micro_auc
from streamproc.evaluation.pipeline_bench import (
    Replay,
    bench_config,
    published,
    replay,
    windows_lost,
)
from streamproc.evaluation.runner import report_for, score_dataset
from streamproc.metrics import REGISTRY
from streamproc.model.artifact import load_artifact
from streamproc.pipeline import Pipeline
from streamproc.serving.client import LocalScorer
from streamproc.serving.launch import local_http_app
from streamproc.threshold.policy import calibrated_from_stats
from streamproc.windowing.windows import window_starts

PROCESSES = ("streamproc", "replicas", "ray", "kafka", "redis")
OUTSIDE = "outside stages"
SERVED = ("preprocess", "model", "heatmap")  # the stages a Serve replica runs


@dataclass(frozen=True)
class Layout:
    workers: int
    replicas: int

    @property
    def name(self) -> str:
        return f"{self.workers}x{self.replicas}"


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: dict[str, Any]  # dotted config path -> value


def parse_layout(text: str) -> Layout:
    """'2x1' -> 2 workers, 1 replica."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise ConfigError(
            f"--layout must be WORKERSxREPLICAS with both >= 1 (e.g. 2x1), got {text!r}"
        )
    return Layout(int(parts[0]), int(parts[1]))


def parse_variant(text: str) -> Variant:
    """'NAME' (the defaults) or 'NAME:path=value[,path=value...]' with dotted config paths
    and YAML values, e.g. 'per-window-flow:serving.frame_cache_frames=0'."""
    name, _, rest = text.partition(":")
    if not name.strip():
        raise ConfigError(f"--variant needs a name before ':', got {text!r}")
    items = filter(None, (p.strip() for p in rest.split(",")))
    return Variant(name.strip(), dict(parse_override(item, "--variant") for item in items))


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


@dataclass
class Snapshot:
    processes: dict[str, float]  # group -> CPU seconds
    pids: dict[int, tuple[str, float]]  # child pid -> (group, CPU seconds)
    stages: dict[str, float]
    frame_bytes: float
    redis_commands: float


class CpuProbe:
    """CPU and traffic counters of everything one pipeline run uses on this machine."""

    def __init__(self, cfg: StreamprocConfig) -> None:
        self.me = psutil.Process()
        self.kafka = (
            _listener(cfg.transport) if isinstance(cfg.transport, KafkaTransportConfig) else None
        )
        self.redis: Any = None
        self.redis_proc: psutil.Process | None = None
        if isinstance(cfg.state, RedisStateConfig):
            import redis

            self.redis = redis.Redis.from_url(cfg.state.url)
            host = urlparse(cfg.state.url).hostname
            if host in ("127.0.0.1", "localhost", "::1"):
                pid = int(self.redis.info("server")["process_id"])
                self.redis_proc = psutil.Process(pid) if psutil.pid_exists(pid) else None

    def snapshot(self) -> Snapshot:
        pids: dict[int, tuple[str, float]] = {}
        for child in self.me.children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
                pids[child.pid] = ("replicas" if "ServeReplica" in cmd else "ray", _cpu(child))
            except psutil.Error:  # it ended meanwhile
                continue
        procs = {"streamproc": _cpu(self.me)}
        for name, proc in (("kafka", self.kafka), ("redis", self.redis_proc)):
            if proc is not None:
                procs[name] = _cpu(proc)
        commands = (
            float(self.redis.info("stats")["total_commands_processed"]) if self.redis else 0.0
        )
        frame_bytes = sum(
            REGISTRY.get_sample_value("streamproc_frames_topic_bytes_total", {"codec": c}) or 0.0
            for c in ("raw", "jpeg")
        )
        return Snapshot(procs, pids, stage_totals(), frame_bytes, commands)

    def redis_bytes(self, prefix: str) -> float | None:
        if self.redis is None:
            return None
        return float(
            sum(self.redis.memory_usage(k) or 0 for k in self.redis.scan_iter(f"{prefix}*"))
        )


def _listener(transport: KafkaTransportConfig) -> psutil.Process | None:
    """The local process listening on the first bootstrap server's port (the broker)."""
    first = str(transport.bootstrap_servers).split(",")[0]
    port = int(first.rsplit(":", 1)[1]) if ":" in first else 9092
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return psutil.Process(conn.pid) if conn.pid else None
    except psutil.AccessDenied:
        return None
    return None


def _spent(a: Snapshot, b: Snapshot) -> dict[str, float | None]:
    """CPU seconds per process group between two snapshots (None: not measured)."""
    out: dict[str, float | None] = {g: None for g in PROCESSES}
    for g in ("streamproc", "kafka", "redis"):
        if g in a.processes and g in b.processes:
            out[g] = b.processes[g] - a.processes[g]
    for g in ("replicas", "ray"):
        out[g] = sum(
            cpu - (a.pids[pid][1] if pid in a.pids else 0.0)
            for pid, (group, cpu) in b.pids.items()
            if group == g
        )
    return out


@dataclass
class ScorerStats:
    hits: int
    misses: int
    replica_stages: dict[str, float] | None  # summed over the replicas; None: local scoring


def scorer_stats(cfg: StreamprocConfig, pipe: Pipeline) -> ScorerStats:
    """The frame caches' hits and misses of every scorer, the worker's own (mode local) or
    each Serve replica's, and the replicas' CPU seconds by stage (``replica_stats``,
    asked until every replica answered)."""
    scorer = pipe.scorer
    if isinstance(scorer, LocalScorer):
        return ScorerStats(scorer.service.cache.hits, scorer.service.cache.misses, None)
    from ray import serve

    handle = serve.get_app_handle(cfg.serving.app_name)
    want = cfg.serving.num_replicas if isinstance(cfg.serving.num_replicas, int) else 1
    seen: dict[str, dict[str, Any]] = {}
    for _ in range(20 * want):
        stats = handle.replica_stats.remote().result(timeout_s=60)
        seen[stats["replica"]] = stats
        if len(seen) >= want:
            break
    return ScorerStats(
        sum(s["hits"] for s in seen.values()),
        sum(s["misses"] for s in seen.values()),
        {st: sum(s["stages"].get(st, 0.0) for s in seen.values()) for st in STAGES},
    )


def measure(
    cfg: StreamprocConfig,
    artifact: Path,
    data: Path,
    timeout_s: float,
    fps: float | None,
    log: Callable[[str], None],
) -> tuple[Replay, dict[str, Any]]:
    """One replay with the CPU probe's snapshots taken as the cameras start and as the
    last score arrives."""
    snaps: dict[str, Snapshot] = {}
    scorers: dict[str, ScorerStats] = {}
    probe: CpuProbe | None = None

    def take(when: str, pipe: Pipeline) -> None:
        nonlocal probe
        probe = probe or CpuProbe(cfg)
        snaps[when] = probe.snapshot()
        scorers[when] = scorer_stats(cfg, pipe)

    rep = replay(cfg, artifact, data, timeout_s, fps, None, log, take)
    assert probe is not None
    a, b = snaps["start"], snaps["end"]
    frames = len(rep.got.scores)
    per_k = 1000.0 / max(frames, 1)
    procs = {g: None if v is None else v * per_k for g, v in _spent(a, b).items()}
    stages = {s: (b.stages[s] - a.stages[s]) * per_k for s in STAGES}
    own = procs["streamproc"]
    stages[OUTSIDE] = own - sum(stages.values()) if own is not None else 0.0
    w = load_artifact(artifact).config.data.window
    windows = sum(len(window_starts(n, w.length, w.stride)) for n in rep.expected.values())
    prefix = cfg.state.key_prefix if isinstance(cfg.state, RedisStateConfig) else ""
    redis_bytes = probe.redis_bytes(prefix) if prefix else None
    s0, s1 = scorers["start"], scorers["end"]
    hits, misses = s1.hits - s0.hits, s1.misses - s0.misses
    in_replicas = None
    if s0.replica_stages is not None and s1.replica_stages is not None:
        in_replicas = {st: (s1.replica_stages[st] - s0.replica_stages[st]) * per_k for st in SERVED}
        in_replicas[OUTSIDE] = (procs["replicas"] or 0.0) - sum(in_replicas.values())
    return rep, {
        "frame_cache_hit_ratio": hits / (hits + misses) if hits + misses else None,
        "frames_scored": frames,
        "wall_s": rep.t_end - rep.t0,
        "frames_per_s": frames / max(rep.t_end - rep.t0, 1e-9),
        "cpu_s_per_1000_frames": procs,
        "total_cpu_s_per_1000_frames": sum(v for v in procs.values() if v is not None),
        "stage_cpu_s_per_1000_frames": stages,
        "replica_stage_cpu_s_per_1000_frames": in_replicas,
        "frames_topic_bytes_per_frame": (b.frame_bytes - a.frame_bytes) / max(frames, 1),
        "redis_commands_per_window": (
            (b.redis_commands - a.redis_commands) / max(windows, 1) if probe.redis else None
        ),
        "redis_bytes_per_camera": (
            redis_bytes / max(len(rep.expected), 1) if redis_bytes is not None else None
        ),
    }


def run_cost(
    data: Path,
    artifact: Path,
    transport: Literal["kafka", "memory"],
    scoring: Literal["serve", "local", "http"],
    layouts: list[Layout],
    variants: list[Variant],
    model_threads: int = 1,
    timeout_s: float = 1800,
    fps: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    art = load_artifact(artifact)
    if scoring == "local" and any(lay.replicas > 1 for lay in layouts):
        raise ConfigError("a layout with replicas > 1 needs --scoring serve")
    rows = []
    for variant in variants:
        for lay in layouts:
            run_id = uuid.uuid4().hex[:8]
            with tempfile.TemporaryDirectory() as tmp:
                cfg = bench_config(
                    transport, "local" if scoring == "local" else "serve", run_id, Path(tmp),
                    lay.workers, model_threads, lay.replicas,
                )  # fmt: skip
                cfg = apply_overrides(cfg, variant.overrides)
                log(f"variant {variant.name}, layout {lay.name} (run {run_id})")
                if scoring == "http":  # the chart's data path: Serve's HTTP ingress
                    with local_http_app(cfg.serving, artifact) as url:
                        cfg.serving = cfg.serving.model_copy(update={"mode": "http", "url": url})
                        rep, row = measure(cfg, artifact, data, timeout_s, fps, log)
                else:
                    rep, row = measure(cfg, artifact, data, timeout_s, fps, log)
            complete = published(rep, "normalized")
            auc = micro_auc(complete, {k: rep.labels[k] for k in complete}) if complete else None
            rows.append(
                {
                    "variant": variant.name,
                    "overrides": variant.overrides,
                    "layout": lay.name,
                    "workers": lay.workers,
                    "replicas": lay.replicas,
                    "frames": sum(rep.expected.values()),
                    "windows_lost": windows_lost(rep, art),
                    "micro_auc": auc,
                    **row,
                }
            )
            log(f"  {_line(rows[-1])}")
    scored = score_dataset(art, data, art.config.evaluation.batch_size)
    cal = calibrated_from_stats(art.stats, art.version)
    eval_rep, _ = report_for(scored, "streaming", cal, art.config, {})
    return {
        "artifact": str(artifact),
        "model_version": art.version,
        "transport": transport,
        "scoring": scoring,
        "model_threads": model_threads,
        "paced_fps": fps,
        "eval_micro_auc": eval_rep["micro_auc"],
        "rows": rows,
    }


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['frames_scored']}/{row['frames']} frames, {row['frames_per_s']:.1f} frames/s, "
        f"{row['total_cpu_s_per_1000_frames']:.1f} CPU-s per 1,000 frames"
    )


def _f(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def cost_table(result: dict[str, Any]) -> str:
    """Markdown: one row per run (processes), then one per run (the stages)."""
    rows = result["rows"]
    head = (
        f"cost per frame, artifact {result['model_version']}, transport "
        f"{result['transport']}, scoring {result['scoring']}, {result['model_threads']} "
        f"model thread(s) per replica; `streamproc eval` streaming micro AUC "
        f"{_f(result['eval_micro_auc'], 3)}\n\n"
        "CPU seconds per 1,000 frames (= CPU ms per frame) by process:\n\n"
        "| variant | workers x replicas | frames/s | "
        + " | ".join(PROCESSES)
        + " | total | frame cache hits | frames-topic bytes/frame | Redis cmds/window "
        "| Redis bytes/camera | windows lost | published micro AUC |\n"
        + "|---" * (len(PROCESSES) + 10)
        + "|\n"
    )
    lines = [head]
    for r in rows:
        cpu = r["cpu_s_per_1000_frames"]
        cells = [
            r["variant"],
            r["layout"],
            _f(r["frames_per_s"]),
            *(_f(cpu[g]) for g in PROCESSES),
            _f(r["total_cpu_s_per_1000_frames"]),
            _f(r.get("frame_cache_hit_ratio"), 2),
            _f(r["frames_topic_bytes_per_frame"], 0),
            _f(r["redis_commands_per_window"]),
            _f(r["redis_bytes_per_camera"], 0),
            str(r["windows_lost"]),
            _f(r["micro_auc"], 3),
        ]
        lines.append("| " + " | ".join(cells) + " |\n")
    lines += _stage_table(
        "in the streamproc process (with Serve scoring the preprocess, model and heatmap "
        "stages run in the replicas)",
        rows,
        "stage_cpu_s_per_1000_frames",
        [*STAGES, OUTSIDE],
    )
    served = [r for r in rows if r.get("replica_stage_cpu_s_per_1000_frames")]
    if served:
        lines += _stage_table(
            "in the Serve replicas (outside stages: Ray's and Serve's own work in the replica "
            "processes, the request's deserialisation, idle threads)",
            served,
            "replica_stage_cpu_s_per_1000_frames",
            [*SERVED, OUTSIDE],
        )
    return "".join(lines)


def _stage_table(where: str, rows: list[dict[str, Any]], key: str, names: list[str]) -> list[str]:
    """Markdown lines: CPU per 1,000 frames by stage, ``where``, one row per run."""
    lines = [
        f"\nCPU seconds per 1,000 frames by stage, {where}:\n\n"
        "| variant | workers x replicas | "
        + " | ".join(names)
        + " |\n"
        + "|---" * (len(names) + 2)
        + "|\n"
    ]
    for r in rows:
        st = r[key]
        lines.append(
            "| " + " | ".join([r["variant"], r["layout"], *(_f(st[n]) for n in names)]) + " |\n"
        )
    return lines
