"""The stream worker's cycle on the embedded peers (memory transport, SQLite state, the
in-process scorer): what it reads from the state store per batch, and the lag gauge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streamproc import metrics
from streamproc.alerts.lifecycle import Policy
from streamproc.config import StreamprocConfig
from streamproc.config.state import EmbeddedStateConfig
from streamproc.config.transport import TopicsConfig
from streamproc.model.artifact import load_artifact
from streamproc.pipeline import calibrated_from
from streamproc.runtime import worker as worker_mod
from streamproc.runtime.worker import StreamWorker
from streamproc.serving.client import LocalScorer, PendingScores
from streamproc.serving.scorer import ScoreRequest, ScoringService
from streamproc.threshold.base import CameraSettings
from streamproc.threshold.embedded import EmbeddedStateStore
from streamproc.threshold.errors import StateUnavailableError
from streamproc.transport import topic_specs
from streamproc.transport.errors import TransportError
from streamproc.transport.memory import MemoryTransport
from streamproc.transport.wire import WireWindow, encode_window


class CountingStore(EmbeddedStateStore):
    def __init__(self, cfg: EmbeddedStateConfig) -> None:
        super().__init__(cfg)
        self.settings_reads: list[str] = []

    def get_settings(self, camera: str) -> CameraSettings:
        self.settings_reads.append(camera)
        return super().get_settings(camera)


def make_worker(tmp_path: Path, artifact: Path) -> tuple[StreamWorker, MemoryTransport]:
    cfg = StreamprocConfig()
    topics = TopicsConfig(publish_scores=True)
    transport = MemoryTransport()
    transport.ensure_topics(topic_specs(cfg.transport, topics))
    store = CountingStore(EmbeddedStateConfig(path=str(tmp_path / "state.db")))
    worker = StreamWorker(
        transport.consumer([topics.frames], "workers", "w0"),
        transport.producer(),
        store,
        LocalScorer(ScoringService(artifact, "cpu")),
        topics,
        Policy(cfg.threshold, cfg.smoothing, cfg.alerts),
        calibrated_from(load_artifact(artifact)),
        max_records=64,
        poll_timeout_s=0.2,
    )
    return worker, transport


def send_windows(transport: MemoryTransport, artifact: Path, per_camera: int) -> int:
    art = load_artifact(artifact)
    t = art.config.data.window.length
    pre = art.config.data.preprocess
    rng = np.random.default_rng(0)
    producer = transport.producer()
    for camera in ("cam-a", "cam-b"):
        for i in range(per_camera):
            frames = rng.integers(0, 255, (t, pre.height, pre.width), dtype=np.uint8)
            w = WireWindow(camera, i * t, frames, tuple(float(i * t + k) for k in range(t)))
            producer.send(TopicsConfig().frames, encode_window(w), camera.encode())
    producer.flush()
    return 2 * per_camera


def test_settings_are_read_once_per_camera_per_batch(tmp_path: Path, tiny_artifact: Path) -> None:
    worker, transport = make_worker(tmp_path, tiny_artifact)
    sent = send_windows(transport, tiny_artifact, per_camera=3)
    done = 0
    while done < sent:
        n = worker.step()
        assert n > 0, "the worker stopped before every window was processed"
        done += n
    assert isinstance(worker.store, CountingStore)
    reads = worker.store.settings_reads
    assert sorted(set(reads)) == ["cam-a", "cam-b"]
    assert len(reads) == 2 * worker.stats.batches  # not one per window (6 windows here)


def test_lag_gauge_falls_to_zero_when_idle_and_is_rate_limited(
    tmp_path: Path, tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, transport = make_worker(tmp_path, tiny_artifact)
    send_windows(transport, tiny_artifact, per_camera=2)
    calls = 0
    real_lag = worker.consumer.lag

    def counting_lag() -> dict[tuple[str, int], int]:
        nonlocal calls
        calls += 1
        return real_lag()

    monkeypatch.setattr(worker.consumer, "lag", counting_lag)
    while worker.step():
        pass
    worker.step()  # idle polls within the same second do not query again
    assert calls == 1
    monkeypatch.setattr(worker_mod, "LAG_EVERY_S", 0.0)
    worker.step()  # idle: refreshes the gauge
    assert calls == 2
    parts = [p for (_, p) in real_lag()]
    for p in parts:
        assert metrics.CONSUMER_LAG.labels(partition=str(p))._value.get() == 0


class FlakyStore(CountingStore):
    """Fails the first ``failures`` state transactions, as an unreachable store would."""

    def __init__(self, cfg: EmbeddedStateConfig, failures: int) -> None:
        super().__init__(cfg)
        self.failures = failures

    def transact(self, camera, fn):  # type: ignore[no-untyped-def]
        if self.failures > 0:
            self.failures -= 1
            raise StateUnavailableError("state store unreachable (test)")
        return super().transact(camera, fn)


def test_a_failed_cycle_retries_its_batch_and_skips_no_window(
    tmp_path: Path, tiny_artifact: Path
) -> None:
    worker, transport = make_worker(tmp_path, tiny_artifact)
    worker.store = FlakyStore(EmbeddedStateConfig(path=str(tmp_path / "flaky.db")), failures=2)
    worker.max_records = 2  # several batches, so later polls happen while one is failing
    sent = send_windows(transport, tiny_artifact, per_camera=3)
    scores = transport.consumer([TopicsConfig().scores], "reader")
    failures, done = 0, 0
    while done < sent:
        try:
            done += worker.step()
        except StateUnavailableError:
            failures += 1
            assert failures <= 2, "the store recovered but the worker kept failing"
    assert failures == 2 and worker.stats.windows == sent
    published = {(r.key, json.loads(r.value)["seq"]) for r in scores.poll(10_000, 1.0)}
    t = load_artifact(tiny_artifact).config.data.window.length
    assert published == {(c, s) for c in (b"cam-a", b"cam-b") for s in range(3 * t)}
    assert not worker.holding and sum(worker.consumer.lag().values()) == 0


class RecordingScorer(LocalScorer):
    def __init__(self, service: ScoringService, log: list[str]) -> None:
        super().__init__(service)
        self.log = log

    def submit(self, requests: list[ScoreRequest]) -> PendingScores:
        self.log.append(f"submit {len(requests)}")
        return super().submit(requests)


def test_the_next_batch_is_submitted_before_the_current_one_is_applied(
    tmp_path: Path, tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    worker, transport = make_worker(tmp_path, tiny_artifact)
    worker.scorer = RecordingScorer(ScoringService(tiny_artifact, "cpu"), log)
    worker.max_records = 2
    real_apply = worker._apply
    monkeypatch.setattr(worker, "_apply", lambda *a: log.append("apply") or real_apply(*a))
    sent = send_windows(transport, tiny_artifact, per_camera=2)  # 4 windows: 2 batches
    assert worker.step() == 2
    assert log == ["submit 2", "submit 2", "apply", "apply"]
    assert worker.holding  # the second batch is scored, not yet committed
    assert worker.step() == 2 and not worker.holding
    assert worker.stats.windows == sent


def test_up_to_max_in_flight_batches_are_submitted_and_finish_in_poll_order(
    tmp_path: Path, tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    applied: list[tuple[str, int]] = []
    worker, transport = make_worker(tmp_path, tiny_artifact)
    worker.scorer = RecordingScorer(ScoringService(tiny_artifact, "cpu"), log)
    worker.max_records, worker.max_in_flight = 1, 3
    real_apply = worker._apply

    def apply(w, *a):  # type: ignore[no-untyped-def]
        log.append("apply")
        applied.append((w.camera, w.seq))
        return real_apply(w, *a)

    monkeypatch.setattr(worker, "_apply", apply)
    sent = send_windows(transport, tiny_artifact, per_camera=2)  # 4 windows: 4 batches
    assert worker.step() == 1
    assert log == ["submit 1", "submit 1", "submit 1", "apply"]
    log.clear()
    assert worker.step() == 1  # tops up to three in flight again, finishes the second
    assert log == ["submit 1", "apply"]
    assert worker.step() + worker.step() == 2 and not worker.holding
    assert worker.stats.windows == sent
    for camera in ("cam-a", "cam-b"):
        seqs = [seq for cam, seq in applied if cam == camera]
        assert len(seqs) == 2 and seqs == sorted(seqs)


def _dead_letters(transport: MemoryTransport) -> list[bytes]:
    reader = transport.consumer([TopicsConfig().dead_letter], "dlq-reader")
    return [r.value for r in reader.poll(10_000, 0.5)]


def test_a_retried_batch_dead_letters_a_bad_message_once(
    tmp_path: Path, tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, transport = make_worker(tmp_path, tiny_artifact)
    worker.store = FlakyStore(EmbeddedStateConfig(path=str(tmp_path / "flaky.db")), failures=1)
    producer = transport.producer()
    producer.send(TopicsConfig().frames, b"not a window", b"cam-a")
    producer.flush()
    sent = send_windows(transport, tiny_artifact, per_camera=1)
    real_commit = worker.consumer.commit
    commit_failures = [1]

    def flaky_commit(offsets=None):  # type: ignore[no-untyped-def]
        if commit_failures[0]:
            commit_failures[0] -= 1
            # What KafkaTransportConsumer.commit raises when the broker is unreachable.
            raise TransportError("offset commit failed for group 'g': broker unreachable (test)")
        return real_commit(offsets)

    monkeypatch.setattr(worker.consumer, "commit", flaky_commit)
    errors = 0
    done = 0
    while done < sent:
        try:
            done += worker.step()
        except (StateUnavailableError, TransportError):
            errors += 1
            assert errors <= 2
    assert errors == 2  # one store failure before the flush, one commit failure after it
    assert _dead_letters(transport) == [b"not a window"]
    assert worker.stats.bad_messages == 1
    assert sum(worker.consumer.lag().values()) == 0
