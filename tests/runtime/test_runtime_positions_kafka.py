"""`streamproc ingest` killed (SIGKILL) mid-file on the real Kafka broker and Redis server,
then started again: the frames topic ends up holding every window of the file exactly as
an unbroken run cuts it, in one capture session (a window sent twice is the same window),
and a third start sends nothing: the file was sent to its end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import yaml

from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig
from streamproc.config.state import RedisStateConfig
from streamproc.config.transport import KafkaTransportConfig, TopicsConfig
from streamproc.model.artifact import load_artifact
from streamproc.runtime.assembly import FrameMemory
from streamproc.transport import make_transport, topic_specs
from streamproc.transport.wire import WireWindow, decode_message
from streamproc.windowing import window_starts
from tests.conftest import synthetic_clip, write_clip

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]
FRAMES = 90


def ingest(cfg_file: Path, artifact: Path, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "streamproc", "ingest", "--config", str(cfg_file)]
    return subprocess.Popen(
        [*cmd, "--artifact", str(artifact)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )


def test_a_killed_ingest_resumes_its_file_in_the_same_session(
    tmp_path: Path, kafka_bootstrap: str, redis_url: str, tiny_artifact: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    write_clip(tmp_path / "clip", synthetic_clip(FRAMES, np.random.default_rng(5), (30, 50)))
    cfg = StreamprocConfig()
    cfg.transport = KafkaTransportConfig(bootstrap_servers=kafka_bootstrap, partitions=2)
    cfg.state = RedisStateConfig(url=redis_url, key_prefix=f"test-{run}")
    cfg.topics = TopicsConfig.for_run("t", run)
    cfg.metrics.port = None
    # Paced at 10 frames/s (5 windows/s: windows of 4, stride 2), so the kill lands mid-file.
    cfg.cameras.cameras = [CameraConfig(id="file", source=str(tmp_path / "clip"), source_fps=10)]
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    transport = make_transport(cfg.transport)
    transport.ensure_topics(topic_specs(cfg.transport, cfg.topics))
    reader = transport.consumer([cfg.topics.frames], f"reader-{run}")
    got: list[WireWindow] = []
    memory = FrameMemory()  # builds the windows of wire-version-2 messages, as a worker does

    def read(quiet_s: float, timeout_s: float) -> None:
        deadline, last = time.time() + timeout_s, time.time()
        while time.time() < deadline and time.time() - last < quiet_s:
            records = reader.poll(100, 0.5)
            got.extend(memory.build(decode_message(r.value), r).window for r in records)
            if records:
                last = time.time()

    log = tmp_path / "ingest.log"
    first = ingest(cfg_file, tiny_artifact, log)
    deadline = time.time() + 120
    while len(got) < 12 and time.time() < deadline:
        read(quiet_s=0.5, timeout_s=1)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    before = len(got)
    assert 12 <= before < 44, log.read_text()[-2000:]

    second = ingest(cfg_file, tiny_artifact, log)
    assert second.wait(120) == 0, log.read_text()[-2000:]  # ends with its file
    read(quiet_s=3, timeout_s=30)
    w = load_artifact(tiny_artifact).config.data.window
    starts = window_starts(FRAMES, w.length, w.stride)
    assert sorted({g.seq for g in got}) == starts, log.read_text()[-2000:]
    assert len({g.stream for g in got}) == 1  # one session: no replay from frame 0
    by_seq: dict[int, WireWindow] = {}
    for g in got:
        kept = by_seq.setdefault(g.seq, g)
        assert np.array_equal(kept.frames, g.frames)  # a window sent twice is the same
        assert (kept.context is None) == (g.context is None)
    # Sent again: those acknowledged after the last position write (written every second)
    # or in flight at the kill; a replay from frame 0 would repeat all `before`.
    resent = len(got) - len(starts)
    assert resent <= 8 < before, f"{resent} of {before} windows sent twice"
    assert "resuming session" in log.read_text()

    third = ingest(cfg_file, tiny_artifact, log)
    assert third.wait(60) == 0
    read(quiet_s=2, timeout_s=10)
    assert len(got) == len(starts) + resent  # nothing sent again
    assert "not sending it again" in log.read_text()
    reader.close()
