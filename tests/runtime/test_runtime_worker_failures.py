"""The worker's failure model on the embedded peers (memory transport, SQLite state, a
stand-in scorer): a record that fails deterministically is dead-lettered on its own and
the rest of its batch goes on; a transient failure is retried; a record that keeps
failing is dead-lettered as ``retries-exhausted`` after the attempts instead of stalling
its partition; nothing is committed past a record neither applied nor dead-lettered.

Each poison case below made the worker at 03ea956 retry its batch forever (or, for the
undecodable header, drop the poll and commit past it)."""

from __future__ import annotations

import json
import math
import sqlite3
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from streamproc import metrics
from streamproc.alerts.lifecycle import Calibrated, Policy
from streamproc.config import StreamprocConfig
from streamproc.config.smoothing import SmoothingConfig
from streamproc.config.state import EmbeddedStateConfig
from streamproc.config.transport import TopicsConfig
from streamproc.runtime.failures import REASONS
from streamproc.runtime.worker import StreamWorker
from streamproc.serving.client import PendingScores, ScoringUnavailableError
from streamproc.serving.scorer import ScoreRequest, ScoreResult
from streamproc.threshold.base import CameraState
from streamproc.threshold.embedded import EmbeddedStateStore
from streamproc.transport.base import Record, TopicSpec
from streamproc.transport.memory import MemoryTransport
from streamproc.transport.wire import MAGIC, VERSION, WireWindow, encode_window

T = 4  # frames per window, the "model's" window length
TOPICS = TopicsConfig(publish_scores=True)
HEALTHY = ("cam-a", "cam-b")
POISON = "cam-p"


class _Done:
    def __init__(self, results: list[ScoreResult]) -> None:
        self._results = results

    def result(self) -> list[ScoreResult]:
        return self._results


@dataclass
class FakeScorer:
    """Stands in for the model: stacks the windows as the real scorer does (so windows of
    different lengths fail the call together), scores every frame 0.5; ``hook`` may raise
    or change a result."""

    hook: Callable[[list[ScoreRequest], list[ScoreResult]], None] | None = None
    calls: list[list[tuple[str, int]]] = field(default_factory=list)

    def submit(self, requests: list[ScoreRequest]) -> PendingScores:
        self.calls.append([(r.camera, r.seq) for r in requests])
        np.stack([r.frames for r in requests])
        results = [ScoreResult(r.camera, r.seq, [0.5] * len(r.frames), "fake") for r in requests]
        if self.hook:
            self.hook(requests, results)
        return _Done(results)

    def version(self) -> str:
        return "fake"


def make_worker(
    tmp_path: Path,
    scorer: FakeScorer,
    smoothing: SmoothingConfig | None = None,
    **kwargs: object,
) -> tuple[StreamWorker, MemoryTransport]:
    cfg = StreamprocConfig()
    transport = MemoryTransport()
    # One partition: the poison record sits between healthy ones in the same log.
    transport.ensure_topics(
        [TopicSpec(t) for t in (TOPICS.frames, TOPICS.scores, TOPICS.alerts, TOPICS.dead_letter)]
    )
    store = EmbeddedStateStore(EmbeddedStateConfig(path=str(tmp_path / "state.db")))
    worker = StreamWorker(
        transport.consumer([TOPICS.frames], "workers", "w0"),
        transport.producer(),
        store,
        scorer,
        TOPICS,
        Policy(cfg.threshold, smoothing or cfg.smoothing, cfg.alerts),
        Calibrated(1.0, 0.1, 3.0, "fake"),
        max_records=16,
        poll_timeout_s=0.05,
        window_length=T,
        **kwargs,  # type: ignore[arg-type]
    )
    return worker, transport


def window_bytes(camera: str, i: int, frames: int = T) -> bytes:
    pixels = np.full((frames, 8, 8), 100, np.uint8)
    stamps = tuple(1_700_000_000.0 + i * T + k for k in range(frames))
    return encode_window(WireWindow(camera, i * T, pixels, stamps))


def null_timestamps(camera: str) -> bytes:
    h = json.dumps(
        {
            "camera": camera,
            "seq": 0,
            "timestamps": [None] * T,
            "context": False,
            "shape": [T, 8, 8],
            "dtype": "uint8",
            "encoding": "raw",
        }
    ).encode()
    return MAGIC + bytes([VERSION]) + struct.pack(">I", len(h)) + h + bytes(T * 64)


def send(transport: MemoryTransport, poison: bytes | None, per_camera: int = 3) -> None:
    """Healthy windows of two cameras, the poison record in the middle."""
    producer = transport.producer()
    for i in range(per_camera):
        for camera in HEALTHY:
            producer.send(TOPICS.frames, window_bytes(camera, i), camera.encode())
        if poison is not None and i == per_camera // 2:
            producer.send(TOPICS.frames, poison, POISON.encode())
    producer.flush()


def frames_log(transport: MemoryTransport) -> list[Record]:
    group = f"inspector-{time.monotonic_ns()}"
    return transport.consumer([TOPICS.frames], group).poll(10_000, 0.05)


def dead_letters(transport: MemoryTransport) -> list[Record]:
    group = f"dlq-{time.monotonic_ns()}"
    return transport.consumer([TOPICS.dead_letter], group).poll(10_000, 0.05)


def guard_commits(worker: StreamWorker, transport: MemoryTransport) -> list[dict]:
    """Check at every commit that each record below the committed offset was applied to
    its camera's state or dead-lettered by then."""
    log = frames_log(transport)
    real_commit = worker.consumer.commit
    commits: list[dict] = []

    def commit(offsets=None):  # type: ignore[no-untyped-def]
        dead = {int(dict(r.headers)["source_offset"]) for r in dead_letters(transport)}
        for (topic, part), upto in (offsets or {}).items():
            for rec in log:
                if (rec.topic, rec.partition) != (topic, part) or rec.offset >= upto:
                    continue
                if rec.key == POISON.encode() or rec.offset in dead:
                    assert rec.offset in dead, f"committed past record {rec.offset}"
                    continue
                seq = json.loads(rec.value[8 : 8 + struct.unpack(">I", rec.value[4:8])[0]])["seq"]
                state = worker.store.get_state(rec.key.decode())  # type: ignore[union-attr]
                assert state is not None and state.last_seq >= seq + T - 1, (
                    f"committed past unapplied record {rec.offset}"
                )
        commits.append(dict(offsets or {}))
        return real_commit(offsets)

    worker.consumer.commit = commit  # type: ignore[method-assign]
    return commits


def run_until_idle(worker: StreamWorker, steps: int = 40) -> None:
    """Step until nothing is held or lagging; a deterministic poison must never raise."""
    for _ in range(steps):
        worker.step()
        if not worker.holding and sum(worker.consumer.lag().values()) == 0:
            return
    raise AssertionError("the worker did not get through its input")


def _nan_score(requests: list[ScoreRequest], results: list[ScoreResult]) -> None:
    for r in results:
        if r.camera == POISON:
            r.scores[1] = math.nan


def _error_result(requests: list[ScoreRequest], results: list[ScoreResult]) -> None:
    for r in results:
        if r.camera == POISON:
            r.error = "the replica could not preprocess this window"


def _model_raises(requests: list[ScoreRequest], results: list[ScoreResult]) -> None:
    if any(r.camera == POISON for r in requests):  # fails the whole call it is part of
        raise ValueError("cannot preprocess a window of cam-p")


def _corrupt_state(store: EmbeddedStateStore) -> None:
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "INSERT INTO state (camera, json, updated_at) VALUES (?, ?, ?)",
            (POISON, '{"last_seq": "many"}', time.time()),
        )


def _other_smoothing_kind(store: EmbeddedStateStore) -> None:
    store.transact(POISON, lambda _: (CameraState(decider={"kind": "median"}), None))


@pytest.mark.parametrize(
    ("poison", "setup", "hook", "reason", "error_class"),
    [
        (null_timestamps(POISON), None, None, "decode", "WireError"),
        (window_bytes(POISON, 0, frames=T + 1), None, None, "contract", "ContractError"),
        (window_bytes(POISON, 0), None, _nan_score, "decision", "DataError"),
        (window_bytes(POISON, 0), None, _error_result, "scoring", "ScoreResult.error"),
        (window_bytes(POISON, 0), None, _model_raises, "scoring", "ValueError"),
        (window_bytes(POISON, 0), _corrupt_state, None, "state", "CorruptStateError"),
        (window_bytes(POISON, 0), _other_smoothing_kind, None, "decision", "ConfigError"),
    ],
    ids=[
        "null-timestamps",
        "wrong-length",
        "nan-score",
        "error-result",
        "model-raises",
        "corrupt-state",
        "kind",
    ],
)
def test_one_poison_record_is_dead_lettered_and_the_rest_applied(
    tmp_path: Path,
    poison: bytes,
    setup: Callable[[EmbeddedStateStore], None] | None,
    hook: Callable[[list[ScoreRequest], list[ScoreResult]], None] | None,
    reason: str,
    error_class: str,
) -> None:
    worker, transport = make_worker(tmp_path, FakeScorer(hook))
    assert isinstance(worker.store, EmbeddedStateStore)
    if setup:
        setup(worker.store)
    send(transport, poison)
    commits = guard_commits(worker, transport)
    run_until_idle(worker)
    assert commits, "nothing was committed"
    (dead,) = dead_letters(transport)
    poisoned = next(r for r in frames_log(transport) if r.key == POISON.encode())
    assert (dead.value, dead.key) == (poison, POISON.encode())
    headers = dict(dead.headers)
    assert headers["reason"].decode() == reason
    assert headers["error_class"].decode() == error_class
    assert headers["error"]
    assert headers["source_topic"].decode() == TOPICS.frames
    assert int(headers["source_partition"]) == poisoned.partition
    assert int(headers["source_offset"]) == poisoned.offset
    for camera in HEALTHY:  # every healthy window applied, in order
        state = worker.store.get_state(camera)
        assert state is not None and state.last_seq == 3 * T - 1
    assert worker.stats.windows == 6 and worker.stats.bad_messages == 1


def test_invalid_stored_settings_fall_back_to_the_defaults(tmp_path: Path) -> None:
    """Settings stored before they were validated (a negative threshold, accepted by
    `camera set` at 03ea956) made every window of the camera fail in the decider."""
    worker, transport = make_worker(tmp_path, FakeScorer())
    assert isinstance(worker.store, EmbeddedStateStore)
    with sqlite3.connect(worker.store.path) as conn:
        conn.execute(
            "INSERT INTO settings (camera, json) VALUES (?, ?)", ("cam-a", '{"threshold": -1}')
        )
    before = metrics.INVALID_SETTINGS.labels(camera="cam-a")._value.get()
    send(transport, None)
    run_until_idle(worker)
    assert not dead_letters(transport)
    state = worker.store.get_state("cam-a")
    assert state is not None and state.last_seq == 3 * T - 1
    assert metrics.INVALID_SETTINGS.labels(camera="cam-a")._value.get() > before


def _reason_labels() -> set[str]:
    return {
        s.labels["reason"]
        for m in metrics.BAD_MESSAGES.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }


def test_bad_message_reasons_and_camera_labels_are_bounded(tmp_path: Path) -> None:
    """At 03ea956 the reason label was cut from the error text: 2,000 random bad messages
    made 1,995 label values. Camera ids from the wire were labels unchecked."""
    worker, transport = make_worker(tmp_path, FakeScorer())
    rng = np.random.default_rng(3)
    producer = transport.producer()
    for i in range(60):
        junk = bytes(rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8))
        producer.send(TOPICS.frames, MAGIC + bytes([VERSION]) + junk, b"x")
        bad_id = f"cam:{i}" if i % 2 else f"cam {i}\n"
        producer.send(TOPICS.frames, window_bytes(bad_id, 0), bad_id.encode())
    producer.flush()
    run_until_idle(worker, steps=100)
    assert worker.stats.bad_messages == 120
    assert _reason_labels() <= set(REASONS)
    scored = {s.labels["camera"] for m in metrics.WINDOWS_SCORED.collect() for s in m.samples}
    assert not any(":" in c or " " in c for c in scored)


class FlakyScorer(FakeScorer):
    """Raises what the real scorers raise when the model service is down
    (ScoringUnavailableError, transient) while ``failing(requests)`` says so."""

    def __init__(self, failing: Callable[[list[ScoreRequest]], bool]) -> None:
        super().__init__()
        self.failing = failing

    def submit(self, requests: list[ScoreRequest]) -> PendingScores:
        if self.failing(requests):
            self.calls.append([(r.camera, r.seq) for r in requests])
            raise ScoringUnavailableError("model service unreachable (test)")
        return super().submit(requests)


def run_in_thread(worker: StreamWorker, until: Callable[[], bool], limit_s: float = 10.0) -> None:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + limit_s
    try:
        while not until():
            assert time.monotonic() < deadline, "the worker stalled"
            time.sleep(0.01)
    finally:
        worker.stop()
        thread.join(5)


def test_a_transient_failure_is_retried_and_loses_nothing(tmp_path: Path) -> None:
    failures = [3]

    def failing(requests: list[ScoreRequest]) -> bool:
        failures[0] -= 1
        return failures[0] >= 0

    retries = metrics.RETRIES.labels(component="worker")._value.get()
    worker, transport = make_worker(tmp_path, FlakyScorer(failing), backoff_s=(0.001, 0.005))
    send(transport, None)
    guard_commits(worker, transport)
    run_in_thread(worker, lambda: worker.stats.windows == 6 and not worker.holding)
    assert not dead_letters(transport)
    assert sum(worker.consumer.lag().values()) == 0
    # The first failure is the early submit at poll time, retried by the cycle itself.
    assert metrics.RETRIES.labels(component="worker")._value.get() - retries >= 2
    for camera in HEALTHY:
        state = worker.store.get_state(camera)
        assert state is not None and state.last_seq == 3 * T - 1


@pytest.mark.parametrize(
    ("max_attempts", "deadline_s"), [(3, 60.0), (10_000, 0.05)], ids=["attempts", "deadline"]
)
def test_a_record_that_keeps_failing_is_dead_lettered_after_the_retries(
    tmp_path: Path, max_attempts: int, deadline_s: float
) -> None:
    """A window whose scoring always fails with a 'transient' error (say, it crashes the
    replica) held its partition forever at 03ea956."""
    scorer = FlakyScorer(lambda requests: any(r.camera == POISON for r in requests))
    worker, transport = make_worker(
        tmp_path,
        scorer,
        max_attempts=max_attempts,
        retry_deadline_s=deadline_s,
        backoff_s=(0.001, 0.005),
    )
    send(transport, window_bytes(POISON, 0))
    guard_commits(worker, transport)
    run_in_thread(worker, lambda: sum(worker.consumer.lag().values()) == 0 and not worker.holding)
    (dead,) = dead_letters(transport)
    headers = dict(dead.headers)
    assert headers["reason"] == b"retries-exhausted"
    assert headers["error_class"] == b"ScoringUnavailableError"
    assert worker.stats.windows == 6
    failed = [c for c in scorer.calls if (POISON, 0) in c]
    assert [(POISON, 0)] in failed  # tried alone before it was given up
    if max_attempts == 3:  # the early submit at poll time, three attempts, once alone
        assert len(failed) == 1 + 3 + 1
