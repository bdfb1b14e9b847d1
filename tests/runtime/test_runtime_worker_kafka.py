"""A stream worker is killed (SIGKILL) mid-run on the real Kafka broker and Redis server;
a second worker takes over. Every frame must still be scored, and the alert events must
be exactly those a single uninterrupted pass over the same scores produces: none lost,
none duplicated by id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import kafka
import numpy as np
import pytest
import yaml

from streamproc.alerts.lifecycle import ScoredWindow, apply_scores
from streamproc.config import StreamprocConfig, load_config
from streamproc.config.cameras import CameraConfig
from streamproc.config.state import RedisStateConfig
from streamproc.config.transport import KafkaTransportConfig, TopicsConfig
from streamproc.model.artifact import load_artifact
from streamproc.pipeline import calibrated_from, policy_for
from streamproc.runtime import killpoint
from streamproc.runtime.ingest import Ingest
from streamproc.threshold import make_store
from streamproc.threshold.base import CameraSettings
from streamproc.threshold.policy import Calibrated
from streamproc.transport import make_transport, topic_specs
from tests.conftest import synthetic_clip, write_clip

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]
CAMERAS, FRAMES = 4, 120


def worker(
    cfg_file: Path, artifact: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamproc",
            "worker",
            "--config",
            str(cfg_file),
            "--artifact",
            str(artifact),
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


def wait_for(done: Callable[[], bool], timeout_s: float = 180.0) -> None:
    """Poll ``done`` until it holds; the deadline only ends a hung run."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"{done.__name__} did not hold in {timeout_s:g} s"
        time.sleep(0.2)


def partitions(bootstrap: str, topics: list[str]) -> set[tuple[str, int]]:
    probe = kafka.KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return {(t, p) for t in topics for p in probe.partitions_for_topic(t) or ()}
    finally:
        probe.close()


def test_killed_worker_loses_and_duplicates_nothing(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, tiny_artifact: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    rng = np.random.default_rng(3)
    for i in range(CAMERAS):
        write_clip(tmp_path / "clips" / f"c{i}", synthetic_clip(FRAMES, rng, (40, 70)))
    cfg = StreamprocConfig()
    cfg.transport = KafkaTransportConfig(
        bootstrap_servers=kafka_bootstrap,
        partitions=4,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    cfg.state = RedisStateConfig(url=redis_url, key_prefix=f"test-{run}")
    cfg.topics = TopicsConfig.for_run("t", run)
    cfg.serving.mode = "local"
    cfg.metrics.port = None
    cfg.worker.max_poll_records = 2
    cfg.worker.group = f"workers-{run}"
    cams = [
        CameraConfig(id=f"cam{i}", source=str(tmp_path / "clips" / f"c{i}"), realtime=False)
        for i in range(CAMERAS)
    ]
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))

    transport = make_transport(cfg.transport)
    transport.ensure_topics(topic_specs(cfg.transport, cfg.topics))
    art = load_artifact(tiny_artifact)
    store = make_store(cfg.state)
    threshold = art.stats["mean"]  # low on purpose: plenty of incidents to lose or duplicate
    for c in cams:
        store.set_settings(c.id, CameraSettings(threshold=threshold))
    w = art.config.data.window
    ingest = Ingest(
        cams,
        transport.producer(),
        cfg.topics.frames,
        window_length=w.length,
        window_stride=w.stride,
    )
    ingest.start()
    assert ingest.join(60) and ingest.stop()

    collector = transport.consumer([cfg.topics.scores, cfg.topics.alerts], f"collector-{run}")
    scores: dict[tuple[str, int], dict] = {}
    alerts: list[dict] = []

    def drain_once() -> None:
        for r in collector.poll(200, 0.5):
            p = json.loads(r.value)
            if r.topic == cfg.topics.scores:
                scores[(p["camera"], p["seq"])] = p
            else:
                alerts.append(p)

    def drain(until: int, timeout: float) -> None:
        deadline = time.time() + timeout
        while len(scores) < until and time.time() < deadline:
            drain_once()

    log = tmp_path / "workers.log"
    # Killed by itself (SIGKILL) between publishing its 15th batch's alerts and flushing
    # and committing them, of about 120 batches of 2 windows: mid-run by construction, not
    # by how far a clock let it get. No commit, no clean shutdown.
    first = worker(cfg_file, tiny_artifact, log, {killpoint.ENV: "publish:15"})
    try:
        assert first.wait(180) == -signal.SIGKILL, log.read_text()[-2000:]
    finally:
        first.kill()
    second = worker(cfg_file, tiny_artifact, log)
    try:
        drain(until=CAMERAS * FRAMES, timeout=180)

        # A worker clears a camera's outbox only once the broker acknowledged (acks=all)
        # its alerts, so once every camera's last frame is applied with an empty outbox,
        # every alert is on the topic: read both output topics to their end then,
        # instead of waiting a while for trailing messages.
        def applied_and_flushed() -> bool:
            states = [store.get_state(c.id) for c in cams]
            return all(s is not None and s.last_seq == FRAMES - 1 and not s.outbox for s in states)

        wait_for(applied_and_flushed)
        outputs = partitions(kafka_bootstrap, [cfg.topics.scores, cfg.topics.alerts])

        def read_to_end() -> bool:
            drain_once()
            return collector.assignment() == outputs and not any(collector.lag().values())

        wait_for(read_to_end)
    finally:
        second.terminate()
        second.wait(30)
    collector.close()

    assert len(scores) == CAMERAS * FRAMES, f"{len(scores)} of {CAMERAS * FRAMES} frames scored"
    published = {(a["event_id"], a["kind"], a["seq"]) for a in alerts}
    policy = policy_for(load_config(cfg_file), art)  # what the worker processes read
    cal: Calibrated = calibrated_from(art)
    expected: set[tuple[str, str, int]] = set()
    for c in cams:
        seq = [scores[(c.id, i)] for i in range(FRAMES)]
        times = [p["time"] for p in seq]
        window = ScoredWindow(c.id, 0, [p["score"] for p in seq], times, ingest.stream)
        st = apply_scores(None, window, CameraSettings(threshold=threshold), cal, policy)
        expected |= {
            (m["payload"]["event_id"], m["payload"]["kind"], m["payload"]["seq"])
            for m in st.outbox
            if m["topic"] == "alerts"
        }
    assert expected, "the test needs incidents to be meaningful"
    assert published == expected
    starts = [a for a in alerts if a["kind"] == "start"]
    assert len({a["event_id"] for a in starts}) == len({(a["event_id"], a["seq"]) for a in starts})
    for c in cams:
        store.delete(c.id)
    store.close()
