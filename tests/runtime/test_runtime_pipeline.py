"""The whole pipeline embedded (memory transport, SQLite state, in-process scorer):
what it publishes must equal the offline streaming evaluation of the same artifact."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig
from streamproc.config.state import EmbeddedStateConfig
from streamproc.config.transport import TopicsConfig
from streamproc.evaluation.runner import report_for, score_dataset
from streamproc.model.artifact import load_artifact
from streamproc.pipeline import Pipeline
from streamproc.sources.dataset import open_split
from streamproc.threshold.policy import calibrated_from_stats
from streamproc.transport.memory import MemoryTransport


def embedded_config(tmp_path: Path, data: Path) -> StreamprocConfig:
    cfg = StreamprocConfig()
    cfg.state = EmbeddedStateConfig(path=str(tmp_path / "state.db"))
    cfg.topics = TopicsConfig(publish_scores=True)
    cfg.serving.mode = "local"
    cfg.metrics.port = None
    # No cut detection: on these 64x48 clips an anomaly's onset (a box a twentieth of the
    # frame) is a cut in the picture, a new segment the offline clip does not have.
    cfg.cameras.cameras = [
        CameraConfig(id=f"cam-{c.name}", source=str(c.path), realtime=False, cut_level=None)
        for c in open_split(data, "test")
    ]
    return cfg


def run_until_idle(pipe: Pipeline, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not pipe.idle():
        assert time.time() < deadline, "pipeline did not drain"
        time.sleep(0.2)


@pytest.mark.parametrize("wire_version", [1, 2])
def test_published_scores_equal_offline_streaming(
    tmp_path: Path, synthetic_dataset: Path, tiny_artifact: Path, wire_version: int
) -> None:
    cfg = embedded_config(tmp_path, synthetic_dataset)
    cfg.cameras.wire_version = wire_version  # type: ignore[assignment]  # 1 or 2
    transport = MemoryTransport()
    pipe = Pipeline(cfg, tiny_artifact, transport=transport)
    pipe.start()
    collector = transport.consumer([cfg.topics.scores, cfg.topics.alerts], "test-collector")
    run_until_idle(pipe)
    pipe.stop()
    records = collector.poll(10_000, 1.0)
    scores = [json.loads(r.value) for r in records if r.topic == cfg.topics.scores]
    by_cam: dict[str, dict[int, dict]] = {}
    for s in scores:
        assert s["seq"] not in by_cam.setdefault(s["camera"], {}), "frame published twice"
        by_cam[s["camera"]][s["seq"]] = s
    art = load_artifact(tiny_artifact)
    offline = score_dataset(art, synthetic_dataset, 8)
    # What the streaming protocol reports is what the worker decided, frame by frame.
    cal = calibrated_from_stats(art.stats, art.version)
    _, live = report_for(offline, "streaming", cal, art.config, {})
    for name, raw in offline.raw.items():
        got = by_cam[f"cam-{name}"]
        assert sorted(got) == list(range(len(raw.streaming)))  # every frame, once
        series = [got[i] for i in range(len(got))]
        np.testing.assert_allclose([s["score"] for s in series], raw.streaming, rtol=1e-4)
        np.testing.assert_allclose(
            [s["normalized"] for s in series], live.scores[name], rtol=1e-3, atol=1e-4
        )
        assert [s["active"] for s in series] == live.decisions[name].tolist()


def test_malformed_message_goes_to_dead_letter(
    tmp_path: Path, synthetic_dataset: Path, tiny_artifact: Path
) -> None:
    cfg = embedded_config(tmp_path, synthetic_dataset)
    cfg.cameras.cameras = cfg.cameras.cameras[:1]
    transport = MemoryTransport()
    pipe = Pipeline(cfg, tiny_artifact, transport=transport)
    pipe.start(ingest=False)
    producer = transport.producer()
    producer.send(cfg.topics.frames, b"SPW\x01garbage", b"cam-x")
    producer.flush()
    pipe.start_ingest()
    dlq = transport.consumer([cfg.topics.dead_letter], "test-dlq")
    run_until_idle(pipe)
    pipe.stop()
    bad = dlq.poll(10, 1.0)
    assert len(bad) == 1 and bad[0].value == b"SPW\x01garbage"
    assert b"header length" in dict(bad[0].headers)["error"]
    assert sum(w.stats.windows for w in pipe.workers) > 0  # the worker carried on


def test_ingest_and_worker_processes_default_to_different_metrics_ports() -> None:
    from streamproc.config.worker import MetricsConfig
    from streamproc.pipeline import metrics_port

    defaults = MetricsConfig()
    worker, ingest = metrics_port(defaults, True), metrics_port(defaults, False)
    assert worker == 9464 and ingest == 9465  # two processes on one host, one config
    both = MetricsConfig(port=9100, ingest_port=9100)  # the chart: one process a pod
    assert metrics_port(both, True) == metrics_port(both, False) == 9100
    assert metrics_port(MetricsConfig(ingest_port=None), False) is None
