"""Stream workers kill themselves (SIGKILL) at each kill point of a batch (poll, apply,
publish, flush, commit; ``runtime/killpoint.py``) on the real Kafka broker and Redis
server, twice per run; a third worker finishes. Every frame must still be scored, and the
alert incidents must be those of the clips' ground truth: one per camera over its
anomaly, each started and ended once, none lost, none decided twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import kafka
import numpy as np
import pytest
import yaml

from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig
from streamproc.config.state import RedisStateConfig
from streamproc.config.transport import KafkaTransportConfig, TopicsConfig
from streamproc.evaluation.events import OPEN, event_report, incidents
from streamproc.model.artifact import load_artifact
from streamproc.runtime import killpoint
from streamproc.runtime.ingest import Ingest
from streamproc.threshold import make_store
from streamproc.threshold.base import CameraSettings
from streamproc.transport import make_transport, topic_specs
from tests.conftest import synthetic_clip, write_clip

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]
CAMERAS, FRAMES = 4, 120
ANOMALY = (40, 70)  # the frames of each clip where the big fast blob crosses
# Between the tiny model's scores of the clips' normal frames (single frames at most ~0.75,
# smoothed over 3 frames below 0.45) and of the anomaly's (about 0.96, none below ~0.6):
# an incident is the anomaly, as the ground truth says, not a matter of the threshold.
THRESHOLD = 0.6


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


@pytest.mark.parametrize("point", killpoint.KILL_POINTS)
def test_killed_workers_lose_and_duplicate_no_alert(
    point: str, tmp_path: Path, kafka_bootstrap: str, redis_url: str, tiny_artifact: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    rng = np.random.default_rng(3)
    for i in range(CAMERAS):
        write_clip(tmp_path / "clips" / f"c{i}", synthetic_clip(FRAMES, rng, ANOMALY))
    labels = np.array([ANOMALY[0] <= t < ANOMALY[1] for t in range(FRAMES)], np.int8)
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
    for c in cams:
        store.set_settings(c.id, CameraSettings(threshold=THRESHOLD))
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

    log = tmp_path / "workers.log"
    # Each of the first two workers kills itself (SIGKILL) the Nth time it reaches the
    # kill point: no flush or commit after it, no clean shutdown. Of about 120 batches of
    # 2 windows, the first dies near batch 40, as the incidents start (frame 40 of each
    # camera), the second (re-reading what was not committed) near batch 75, as they end.
    # Mid-run by construction, not by how far a clock let a worker get.
    for n in (40, 35):
        doomed = worker(cfg_file, tiny_artifact, log, {killpoint.ENV: f"{point}:{n}"})
        try:
            assert doomed.wait(180) == -signal.SIGKILL, log.read_text()[-2000:]
        finally:
            doomed.kill()
    last = worker(cfg_file, tiny_artifact, log)
    try:
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
        last.terminate()
        last.wait(30)
    collector.close()

    assert len(scores) == CAMERAS * FRAMES, f"{len(scores)} of {CAMERAS * FRAMES} frames scored"
    # The oracle is the clips' ground truth, not the worker's own decision code: each
    # camera plays one anomaly, whose frames score far above THRESHOLD and the normal
    # frames' below it (a margin the clips are drawn for), so each camera has exactly
    # one incident, over its anomaly, and none elsewhere.
    found = incidents(alerts, {c.id: c.id for c in cams})
    report = event_report(found, {c.id: labels for c in cams}, fps=10)
    assert report["gt_events"] == CAMERAS, report
    assert report["alert_events"] == CAMERAS and report["event_recall"] == 1.0, report
    assert report["false_alerts"] == 0, report
    # None lost: each incident's start and end were published (an end: not still open).
    assert all(i.end != OPEN for i in found), found
    # None duplicated: copies of a message share (event_id, kind, seq), which consumers
    # drop; a start or end decided twice would carry another seq.
    unique = {(a["event_id"], a["kind"], a["seq"]) for a in alerts}
    decided = Counter((eid, kind) for eid, kind, _ in unique if kind != "update")
    assert sorted(decided.values()) == [1] * 2 * CAMERAS, decided
    for c in cams:
        store.delete(c.id)
    store.close()
