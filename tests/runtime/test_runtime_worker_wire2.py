"""The stream worker on wire version 2 (each frame sent once), embedded peers: windows
built from earlier messages' frames, commits held back to what a restart needs, re-read
windows skipped, windows whose frames were lost dead-lettered, dead letters replayable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamproc.alerts.lifecycle import Policy
from streamproc.config import StreamprocConfig
from streamproc.config.state import EmbeddedStateConfig
from streamproc.config.transport import TopicsConfig
from streamproc.model.artifact import load_artifact
from streamproc.pipeline import calibrated_from
from streamproc.runtime.worker import StreamWorker
from streamproc.serving.client import LocalScorer
from streamproc.serving.scorer import ScoreRequest, ScoringService
from streamproc.threshold.base import StateStore
from streamproc.threshold.embedded import EmbeddedStateStore
from streamproc.transport import topic_specs
from streamproc.transport.memory import MemoryTransport
from streamproc.transport.wire import WireWindow, decode_window, encode_window

TOPICS = TopicsConfig(publish_scores=True)
STRIDE = 2


@pytest.fixture
def setup(
    tmp_path: Path, tiny_artifact: Path
) -> tuple[MemoryTransport, StateStore, ScoringService]:
    transport = MemoryTransport()
    transport.ensure_topics(topic_specs(StreamprocConfig().transport, TOPICS))
    store = EmbeddedStateStore(EmbeddedStateConfig(path=str(tmp_path / "state.db")))
    return transport, store, ScoringService(tiny_artifact, "cpu")


def worker_on(
    transport: MemoryTransport, store: StateStore, service: ScoringService, name: str
) -> StreamWorker:
    cfg = StreamprocConfig()
    return StreamWorker(
        transport.consumer([TOPICS.frames], "workers", name),
        transport.producer(),
        store,
        LocalScorer(service),
        TOPICS,
        Policy(cfg.threshold, cfg.smoothing, cfg.alerts),
        calibrated_from(service.artifact),
        max_records=3,
        poll_timeout_s=0.1,
        max_in_flight=2,
    )


def windows(camera: str, n: int, artifact: Path, seed: int = 0) -> list[WireWindow]:
    """``n`` consecutive windows of a camera (stride 2), the context frame from the second."""
    cfg = load_artifact(artifact).config
    t, pre = cfg.data.window.length, cfg.data.preprocess
    frames = np.random.default_rng(seed).integers(
        0, 255, (n * STRIDE + t, pre.height, pre.width), dtype=np.uint8
    )
    out = []
    for k in range(n):
        seq = k * STRIDE
        stamps = tuple(1000.0 + s for s in range(seq, seq + t))
        ctx = frames[seq - 1] if k else None
        out.append(WireWindow(camera, seq, frames[seq : seq + t], stamps, ctx, "s1"))
    return out


def send(transport: MemoryTransport, ws: list[WireWindow], skip: int | None = None) -> None:
    """As ingest sends them with wire version 2: the first whole, then only the new frames
    (window ``skip`` is never sent, and the next one still carries its frames)."""
    producer = transport.producer()
    for k, w in enumerate(ws):
        carried = 0 if k == 0 else len(w.frames) + 1 - STRIDE
        if k != skip:
            producer.send(TOPICS.frames, encode_window(w, carried=carried), w.camera.encode())


def drain(worker: StreamWorker) -> None:
    while worker.step() or worker.holding:
        pass


def published(transport: MemoryTransport) -> list[tuple[str, int, float]]:
    reader = transport.consumer([TOPICS.scores], "reader")
    scores = [json.loads(r.value) for r in reader.poll(100_000, 0.5)]
    return [(s["camera"], s["seq"], s["score"]) for s in scores]


def dead_letters(transport: MemoryTransport) -> list[tuple[bytes, dict[str, bytes]]]:
    reader = transport.consumer([TOPICS.dead_letter], "dlq-reader")
    return [(r.value, dict(r.headers)) for r in reader.poll(10_000, 0.5)]


def test_frames_sent_once_score_as_whole_windows(setup, tiny_artifact: Path) -> None:  # type: ignore[no-untyped-def]
    transport, store, service = setup
    ws = {c: windows(c, 8, tiny_artifact, seed=i) for i, c in enumerate(("cam-a", "cam-b"))}
    for c in ws:
        send(transport, ws[c])
    worker = worker_on(transport, store, service, "w0")
    drain(worker)
    assert worker.stats.windows == 16 and worker.stats.bad_messages == 0
    # The same scores as the whole windows scored directly.
    expected = {}
    for c, cam_ws in ws.items():
        requests = [ScoreRequest(w.camera, w.seq, w.frames, w.context) for w in cam_ws]
        for w, r in zip(cam_ws, service.score(requests), strict=True):
            for i, s in enumerate(r.scores):
                expected.setdefault((c, w.seq + i), s)
    got = {(c, seq): s for c, seq, s in published(transport)}
    assert got.keys() == expected.keys()
    np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), rtol=1e-5)


def test_a_restarted_worker_rereads_what_it_needs_and_loses_nothing(  # type: ignore[no-untyped-def]
    setup, tiny_artifact: Path
) -> None:
    transport, store, service = setup
    for i, c in enumerate(("cam-a", "cam-b")):
        send(transport, windows(c, 10, tiny_artifact, seed=i))
    first = worker_on(transport, store, service, "w0")
    for _ in range(4):  # some batches applied and committed, then a crash (no drain)
        first.step()
    assert first.stats.windows >= 6
    first.consumer.close()
    second = worker_on(transport, store, service, "w1")
    drain(second)
    # The commit was held back, so the second worker re-read windows the first applied
    # whose carried frames came earlier: skipped, not dead-lettered.
    assert second.stats.skipped >= 1
    assert dead_letters(transport) == []
    frames = [(c, seq) for c, seq, _ in published(transport)]
    t = load_artifact(tiny_artifact).config.data.window.length
    every = [(c, s) for c in ("cam-a", "cam-b") for s in range(9 * STRIDE + t)]
    assert sorted(frames) == sorted(every)  # every frame once: none lost, none twice


def test_windows_whose_frames_were_lost_are_dead_lettered_and_the_stream_goes_on(  # type: ignore[no-untyped-def]
    setup, tiny_artifact: Path
) -> None:
    transport, store, service = setup
    ws = windows("cam-a", 10, tiny_artifact)
    send(transport, ws, skip=3)  # window 3 never reached the broker
    worker = worker_on(transport, store, service, "w0")
    drain(worker)
    dead = dead_letters(transport)
    # Windows 4 and 5 carry frames that only window 3 brought; 6 on carry 4's and 5's.
    assert [h["reason"] for _, h in dead] == [b"incomplete", b"incomplete"]
    assert b"frames 8..9" in dead[0][1]["error"] and b"frames 9..9" in dead[1][1]["error"]
    assert worker.stats.windows == 7
    seqs = {seq for _, seq, _ in published(transport)}
    t = load_artifact(tiny_artifact).config.data.window.length
    assert max(seqs) == 9 * STRIDE + t - 1  # the stream went on to its end


def test_a_dead_lettered_v2_window_is_kept_whole_so_it_can_be_replayed(  # type: ignore[no-untyped-def]
    setup, tiny_artifact: Path
) -> None:
    transport, store, service = setup
    ws = windows("cam-a", 4, tiny_artifact)
    bad = ws[2]
    ws[2] = WireWindow(bad.camera, bad.seq, bad.frames, bad.timestamps[::-1], bad.context, "s1")
    send(transport, ws)
    drain(worker_on(transport, store, service, "w0"))
    ((value, headers),) = dead_letters(transport)
    assert headers["reason"] == b"contract" and headers["rebuilt_from_offset"] == b"0"
    whole = decode_window(value)  # a version-1 message: no earlier frames needed
    np.testing.assert_array_equal(whole.all_frames(), ws[2].all_frames())
