"""The embedded pipeline on footage with breaks in capture (a looped clip wraps every
second): each pass of the clip is scored as the clip alone is (a fresh camera start, as
the evaluation scores a test clip), normal footage gives no incident, and an anomaly
after a break alerts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from streamproc.config import StreamprocConfig
from streamproc.config.cameras import CameraConfig
from streamproc.config.state import EmbeddedStateConfig
from streamproc.config.transport import TopicsConfig
from streamproc.pipeline import Pipeline
from streamproc.transport.memory import MemoryTransport

WRAPS = 4  # loops of each clip to watch
CLIP = 40  # frames in each clip


def config(tmp_path: Path, cameras: list[CameraConfig]) -> StreamprocConfig:
    cfg = StreamprocConfig()
    cfg.state = EmbeddedStateConfig(path=str(tmp_path / "state.db"))
    cfg.topics = TopicsConfig(publish_scores=True)
    cfg.serving.mode = "local"
    cfg.metrics.port = None
    cfg.cameras.cameras = cameras
    return cfg


def test_looped_normal_footage_never_alerts_and_an_anomaly_after_a_wrap_does(
    tmp_path: Path, synthetic_dataset: Path, tiny_artifact: Path
) -> None:
    # Played at 50 fps: a wrap every 0.8 s, every one a break the windows must not span.
    paced = {"loop": True, "realtime": True, "source_fps": 50.0}
    normal = CameraConfig(id="brk-normal", source=str(synthetic_dataset / "train/00"), **paced)
    # Test clip 00: a fast box from frame 10 to 24 (test_labels.json), after each wrap.
    odd = CameraConfig(id="brk-anomaly", source=str(synthetic_dataset / "test/00"), **paced)
    cfg = config(tmp_path, [normal, odd])
    transport = MemoryTransport()
    pipe = Pipeline(cfg, tiny_artifact, transport=transport)
    pipe.start()
    collector = transport.consumer([cfg.topics.scores, cfg.topics.alerts], "test-collector")
    scores: dict[str, dict[int, float]] = {"brk-normal": {}, "brk-anomaly": {}}
    alerts: list[dict] = []
    deadline = time.monotonic() + 120
    try:
        while min(len(s) for s in scores.values()) < CLIP * (WRAPS + 1):
            assert time.monotonic() < deadline, f"scored only {[len(s) for s in scores.values()]}"
            for r in collector.poll(1000, 0.2):
                msg = json.loads(r.value)
                if r.topic == cfg.topics.scores:
                    scores[msg["camera"]][msg["seq"]] = msg["score"]
                else:
                    alerts.append(msg)
    finally:
        pipe.stop()
    for r in collector.poll(10_000, 0.5):
        if r.topic == cfg.topics.alerts:
            alerts.append(json.loads(r.value))
    # No window spans a wrap: every pass is windowed and scored as the first (without the
    # break, the frame after a wrap scores 0.82 instead of 0.0, 2.5x the threshold).
    for camera, got in scores.items():
        again = [(seq, v) for seq, v in got.items() if seq >= CLIP and seq % CLIP in got]
        assert len(again) >= CLIP * WRAPS // 2, camera
        np.testing.assert_allclose(
            [v for _, v in again], [got[seq % CLIP] for seq, _ in again], rtol=1e-4, atol=1e-6
        )
    started = [a for a in alerts if a["kind"] == "start"]
    assert [a for a in started if a["camera"] == "brk-normal"] == []
    # The anomaly recurs 10 frames after every wrap; it alerts after the first one too.
    after_wrap = [a["start_seq"] for a in started if a["camera"] == "brk-anomaly"]
    assert any(s >= CLIP for s in after_wrap), after_wrap
