"""Stream identity and camera-gone in the worker (embedded peers, a stand-in scorer): a
late window of a retired capture stream is skipped and counted; an open incident of a
camera that stopped sending is ended once, through the outbox, by the periodic sweep."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from streamproc import metrics
from streamproc.runtime import worker as worker_mod
from streamproc.serving.scorer import ScoreRequest, ScoreResult
from streamproc.threshold.base import CameraSettings
from streamproc.transport.memory import MemoryTransport
from streamproc.transport.wire import WireWindow, encode_window
from tests.runtime.test_runtime_worker_failures import TOPICS, FakeScorer, make_worker

T = 4


def send(transport: MemoryTransport, camera: str, stream: str, i: int, t0: float) -> None:
    pixels = np.full((T, 8, 8), 100, np.uint8)
    stamps = tuple(t0 + i * T + k for k in range(T))
    w = WireWindow(camera, i * T, pixels, stamps, stream=stream)
    producer = transport.producer()
    producer.send(TOPICS.frames, encode_window(w), camera.encode())
    producer.flush()


def alerts(transport: MemoryTransport) -> list[dict]:
    group = f"inspector-{time.monotonic_ns()}"
    records = transport.consumer([TOPICS.alerts], group).poll(10_000, 0.05)
    return [json.loads(r.value) for r in records]


def skipped() -> float:
    return metrics.WINDOWS_SKIPPED.labels(reason="retired-stream")._value.get()


def test_a_late_window_of_a_retired_stream_is_skipped_and_counted(tmp_path: Path) -> None:
    worker, transport = make_worker(tmp_path, FakeScorer())
    now = time.time()
    send(transport, "cam", "s1", 0, now)
    send(transport, "cam", "s2", 0, now - 3600)  # a restarted ingest, clock an hour behind
    send(transport, "cam", "s1", 1, now + 4)  # late, of the replaced session
    before = skipped()
    while worker.step():
        pass
    state = worker.store.get_state("cam")
    assert state is not None and state.stream == "s2" and state.last_seq == T - 1
    assert worker.stats.skipped == 1 and skipped() == before + 1


def test_a_camera_gone_gets_one_end_through_the_outbox(tmp_path: Path) -> None:
    def hot(requests: list[ScoreRequest], results: list[ScoreResult]) -> None:
        for r in results:
            r.scores[:] = [9.0] * len(r.scores)

    worker, transport = make_worker(tmp_path, FakeScorer(hook=hot))
    now = time.time()
    for i in range(3):
        send(transport, "cam", "s1", i, now)
    while worker.step():
        pass
    state = worker.store.get_state("cam")
    assert state is not None and state.alert is not None and not state.outbox
    timeout = worker.policy.alerts.camera_timeout_s
    assert not worker.sweep_camera("cam", state.seen_at + timeout - 1, timeout)
    assert worker.sweep_camera("cam", state.seen_at + timeout, timeout)
    assert not worker.sweep_camera("cam", state.seen_at + 2 * timeout, timeout)  # once
    ends = [a for a in alerts(transport) if a["kind"] == "end"]
    assert [a["reason"] for a in ends] == ["camera-gone"]
    after = worker.store.get_state("cam")
    assert after is not None and after.alert is None and not after.outbox


def test_the_sweep_runs_from_the_loop_but_not_every_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, _ = make_worker(tmp_path, FakeScorer())
    calls: list[str] = []
    monkeypatch.setattr(worker, "sweep_camera", lambda c, now, t: calls.append(c) or False)
    monkeypatch.setattr(worker.store, "cameras", lambda: ["a", "b"])
    worker.step()
    assert calls == []  # the first sweep waits a period
    monkeypatch.setattr(worker_mod, "SWEEP_EVERY_S", 0.0)
    worker.step()
    assert calls == ["a", "b"]


def _hot(requests: list[ScoreRequest], results: list[ScoreResult]) -> None:
    for r in results:
        r.scores[:] = [9.0] * len(r.scores)


def test_a_clean_stop_ends_open_incidents_as_shutdown(tmp_path: Path) -> None:
    worker, transport = make_worker(tmp_path, FakeScorer(hook=_hot))
    # Applied windows, never over its fixed threshold: nothing to end at the stop.
    worker.store.set_settings("quiet", CameraSettings(threshold=1e6))
    now = time.time()
    for i in range(3):
        send(transport, "cam", "s1", i, now)
        send(transport, "quiet", "s1", i, now)  # applied, never anomalous: nothing to end
    while worker.step():
        pass
    state = worker.store.get_state("cam")
    assert state is not None and state.alert is not None
    worker.stop()
    worker.run()  # returns at once: stopped, nothing in hand; then ends what is open
    ends = [a for a in alerts(transport) if a["kind"] == "end"]
    assert [(a["camera"], a["reason"]) for a in ends] == [("cam", "shutdown")]
    after = worker.store.get_state("cam")
    assert after is not None and after.alert is None and not after.outbox
    assert worker.end_incidents() == 0  # a second stop finds nothing open


def test_a_stop_that_leaves_windows_for_redelivery_ends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows left uncommitted are redelivered to the next worker, which resumes the
    incident: ending it would split one incident in two."""
    worker, transport = make_worker(tmp_path, FakeScorer(hook=_hot))
    now = time.time()
    for i in range(3):
        send(transport, "cam", "s1", i, now)
    while worker.step():
        pass
    send(transport, "cam", "s1", 3, now)
    batch = worker._take(1.0)
    assert batch is not None
    worker._in_flight.append(batch)

    def broken(_batch: object) -> int:
        raise ConnectionError("store went away")

    monkeypatch.setattr(worker, "_finish", broken)
    worker.stop()
    worker.run()
    assert [a for a in alerts(transport) if a["kind"] == "end"] == []
    state = worker.store.get_state("cam")
    assert state is not None and state.alert is not None


def _count(name: str, camera: str) -> float:
    return metrics.REGISTRY.get_sample_value(f"{name}_count", {"camera": camera}) or 0.0


def test_capture_to_decision_and_to_alert_are_recorded_without_published_scores(
    tmp_path: Path,
) -> None:
    worker, transport = make_worker(tmp_path, FakeScorer(hook=_hot))
    # The default: no score events at all (the helper's worker publishes them).
    worker.topics = worker.topics.model_copy(update={"publish_scores": False})
    cam = f"lat-{time.monotonic_ns()}"
    decided = _count("streamproc_capture_to_decision_seconds", cam)
    alerted = _count("streamproc_capture_to_alert_seconds", cam)
    now = time.time()
    for i in range(4):
        send(transport, cam, "s1", i, now)
    send(transport, cam, "s1", 1, now)  # a re-read window: already applied, decides nothing
    while worker.step():
        pass
    assert _count("streamproc_capture_to_decision_seconds", cam) == decided + 4
    starts = [a for a in alerts(transport) if a["kind"] == "start" and a["camera"] == cam]
    assert starts and _count("streamproc_capture_to_alert_seconds", cam) == alerted + len(starts)
