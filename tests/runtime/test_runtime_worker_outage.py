"""The worker rides out a broker or state-store outage of any length: its failed attempts
do not use up a batch's retries, and no window is dead-lettered for it. At 9d4b37c a
batch held back by a broker outage ran out of retries, and the redis outage that
followed dead-lettered its valid windows as ``retries-exhausted``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamproc.alerts.lifecycle import Calibrated, Policy
from streamproc.config import StreamprocConfig
from streamproc.config.state import EmbeddedStateConfig
from streamproc.config.transport import TopicsConfig
from streamproc.runtime.failures import is_outage, is_transient
from streamproc.runtime.worker import StreamWorker
from streamproc.serving.client import PendingScores
from streamproc.serving.scorer import ScoreRequest, ScoreResult
from streamproc.threshold.base import CameraState
from streamproc.threshold.embedded import EmbeddedStateStore
from streamproc.threshold.errors import CorruptStateError, StateStoreError, StateUnavailableError
from streamproc.transport.base import Producer, Record, TopicSpec
from streamproc.transport.errors import TransportError
from streamproc.transport.memory import MemoryTransport
from streamproc.transport.wire import WireWindow, encode_window

T = 4
TOPICS = TopicsConfig(publish_scores=True)
CAMERAS = ("cam-a", "cam-b")


class _Done:
    def __init__(self, results: list[ScoreResult]) -> None:
        self._results = results

    def result(self) -> list[ScoreResult]:
        return self._results


class Scorer:
    def submit(self, requests: list[ScoreRequest]) -> PendingScores:
        return _Done([ScoreResult(r.camera, r.seq, [0.5] * len(r.frames), "f") for r in requests])

    def version(self) -> str:
        return "f"


class Outage:
    """How many more calls fail: first the broker's (flush), then the store's."""

    def __init__(self, broker: int, store: int) -> None:
        self.broker, self.store = broker, store
        self.lock = threading.Lock()

    def broker_down(self) -> bool:
        with self.lock:
            self.broker -= 1
            return self.broker >= 0

    def store_down(self) -> bool:
        with self.lock:
            if self.broker > 0:
                return False  # the store fails after the broker came back
            self.store -= 1
            return self.store >= 0


class FlakyProducer:
    def __init__(self, inner: Producer, outage: Outage) -> None:
        self.inner, self.outage = inner, outage

    def send(self, *args: Any, **kwargs: Any) -> None:
        self.inner.send(*args, **kwargs)

    def flush(self, timeout_s: float | None = None) -> None:
        if self.outage.broker_down():
            raise TransportError("send to 'scores' failed: broker unreachable (test)")
        self.inner.flush(timeout_s)

    def close(self) -> None:
        self.inner.close()


class FlakyStore(EmbeddedStateStore):
    outage: Outage

    def transact(self, camera: str, fn: Callable[[CameraState | None], Any]) -> Any:
        if self.outage.store_down():
            raise StateUnavailableError("cannot reach redis (test)")
        return super().transact(camera, fn)


def window_bytes(camera: str, i: int) -> bytes:
    stamps = tuple(1_700_000_000.0 + i * T + k for k in range(T))
    return encode_window(WireWindow(camera, i * T, np.full((T, 8, 8), 100, np.uint8), stamps))


def read(transport: MemoryTransport, topic: str) -> list[Record]:
    return transport.consumer([topic], f"inspect-{time.monotonic_ns()}").poll(10_000, 0.05)


def test_outage_errors_are_transient_and_not_the_records_fault() -> None:
    for err in (TransportError("x"), StateUnavailableError("x"), StateStoreError("x")):
        assert is_outage(err) and is_transient(err)
    assert not is_outage(CorruptStateError("x")) and not is_transient(CorruptStateError("x"))
    assert not is_outage(ConnectionError("model")) and is_transient(ConnectionError("model"))


@pytest.mark.parametrize(("broker", "store"), [(8, 0), (0, 8), (8, 8)])
def test_an_outage_longer_than_the_retry_budget_dead_letters_nothing(
    tmp_path: Path, broker: int, store: int
) -> None:
    """A retry budget of 2 attempts or 10 ms, and outages of 8 failed cycles each."""
    outage = Outage(broker, store)
    transport = MemoryTransport()
    transport.ensure_topics(
        [TopicSpec(t) for t in (TOPICS.frames, TOPICS.scores, TOPICS.alerts, TOPICS.dead_letter)]
    )
    store = FlakyStore(EmbeddedStateConfig(path=str(tmp_path / "state.db")))
    store.outage = outage
    cfg = StreamprocConfig()
    worker = StreamWorker(
        transport.consumer([TOPICS.frames], "workers", "w0"),
        FlakyProducer(transport.producer(), outage),
        store,
        Scorer(),
        TOPICS,
        Policy(cfg.threshold, cfg.smoothing, cfg.alerts),
        Calibrated(1.0, 0.1, 3.0, "f"),
        max_records=16,
        poll_timeout_s=0.05,
        window_length=T,
        max_attempts=2,
        retry_deadline_s=0.01,
        backoff_s=(0.001, 0.005),
    )
    producer = transport.producer()
    for i in range(3):
        for camera in CAMERAS:
            producer.send(TOPICS.frames, window_bytes(camera, i), camera.encode())
    producer.flush()
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    try:
        while worker.holding or sum(worker.consumer.lag().values()) or not worker.stats.batches:
            assert time.monotonic() < deadline, f"the worker stalled: {list(worker.stats.errors)}"
            time.sleep(0.01)
    finally:
        worker.stop()
        thread.join(5)
    assert read(transport, TOPICS.dead_letter) == []
    assert outage.broker < 0 and outage.store < 0  # both outages happened and ended
    assert worker.stats.bad_messages == 0 and worker.stats.windows == 6
    for camera in CAMERAS:
        state = store.get_state(camera)
        assert state is not None and state.last_seq == 3 * T - 1
