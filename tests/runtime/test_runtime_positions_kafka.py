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
from collections import Counter
from collections.abc import Callable
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
from streamproc.threshold import make_store
from streamproc.transport import make_transport, topic_specs
from streamproc.transport.wire import WireWindow, decode_message
from streamproc.windowing import window_starts
from tests.conftest import synthetic_clip, write_clip

pytestmark = [pytest.mark.kafka, pytest.mark.redis, pytest.mark.slow]
FRAMES = 300


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
    # The first ingest is paced at 10 frames/s: the file lasts 30 s, and the test stops it
    # as soon as a position is stored, a second or two in. The later ones are not paced
    # (`realtime` is not part of the position's fingerprint).
    cam = CameraConfig(id="file", source=str(tmp_path / "clip"), source_fps=10)
    cfg.cameras.cameras = [cam]
    paced = tmp_path / "paced.yaml"
    paced.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    cfg.cameras.cameras = [cam.model_copy(update={"realtime": False})]
    unpaced = tmp_path / "unpaced.yaml"
    unpaced.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    transport = make_transport(cfg.transport)
    transport.ensure_topics(topic_specs(cfg.transport, cfg.topics))
    store = make_store(cfg.state)
    reader = transport.consumer([cfg.topics.frames], f"reader-{run}")
    got: list[WireWindow] = []
    memory = FrameMemory()  # builds the windows of wire-version-2 messages, as a worker does
    w = load_artifact(tiny_artifact).config.data.window
    starts = window_starts(FRAMES, w.length, w.stride)

    def read_to_end() -> bool:
        """Reads what is there; True once the reader is at the topic's end."""
        records = reader.poll(100, 0.5)
        got.extend(memory.build(decode_message(r.value), r).window for r in records)
        return not records and bool(reader.assignment()) and not any(reader.lag().values())

    log = tmp_path / "ingest.log"
    first = ingest(paced, tiny_artifact, log)
    try:
        wait_for(lambda: (p := store.get_position("file")) is not None and p.last_seq >= 0)
        first.send_signal(signal.SIGSTOP)  # frozen: its stored position cannot move on
        pos = store.get_position("file")
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    finally:
        first.kill()
    assert pos is not None and not pos.finished, "the kill must land mid-file"
    acked = pos.last_seq - w.length + 1  # the start of the last window acknowledged

    second = ingest(unpaced, tiny_artifact, log)
    assert second.wait(120) == 0, log.read_text()[-2000:]  # ends with its file
    wait_for(read_to_end)
    assert sorted({g.seq for g in got}) == starts, log.read_text()[-2000:]
    assert len({g.stream for g in got}) == 1  # one session: no replay from frame 0
    by_seq: dict[int, WireWindow] = {}
    for g in got:
        kept = by_seq.setdefault(g.seq, g)
        assert np.array_equal(kept.frames, g.frames)  # a window sent twice is the same
        assert (kept.context is None) == (g.context is None)
    # Sent twice: only windows after the stored position that the first ingest had sent
    # too, from the one right after it on (a replay from frame 0 would repeat all).
    twice = sorted(seq for seq, n in Counter(g.seq for g in got).items() if n > 1)
    assert Counter(g.seq for g in got).most_common(1)[0][1] <= 2
    after = starts[starts.index(acked) + 1 :]
    assert twice == after[: len(twice)], f"sent twice {twice}; stored position at {acked}"
    assert "resuming session" in log.read_text()

    sent = len(got)
    third = ingest(unpaced, tiny_artifact, log)
    assert third.wait(60) == 0
    wait_for(read_to_end)
    assert len(got) == sent  # nothing sent again
    assert "not sending it again" in log.read_text()
    reader.close()
    store.delete("file")
    store.close()


def wait_for(done: Callable[[], bool], timeout_s: float = 120.0) -> None:
    """Poll ``done`` until it holds; the deadline only ends a hung run."""
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"not done within {timeout_s:g} s"
        time.sleep(0.1)
