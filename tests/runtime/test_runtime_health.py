"""Health from progress: /healthz fails for a worker stuck with records in hand (or whose
loop died), /readyz once start-up checks passed, the progress-age gauge, all served with
/metrics on the metrics port."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from streamproc import metrics
from streamproc.dependencies import Dependencies
from streamproc.health import Health
from streamproc.serving.scorer import ScoreRequest, ScoreResult
from tests.runtime.test_runtime_worker_failures import FakeScorer, make_worker, send


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Stub:
    def __init__(self, holding: bool, age: float) -> None:
        self.holding, self.age = holding, age

    def progress_age(self) -> float:
        return self.age


def test_health_endpoints_follow_progress() -> None:
    health = Health(stall_timeout_s=10, dependencies=Dependencies())  # none down
    server = metrics.serve_metrics(0, "127.0.0.1", health)
    port = server.server_address[1]
    try:
        assert get(port, "/readyz")[0] == 503
        health.ready = True
        assert get(port, "/readyz")[0] == 200
        alive = threading.Thread(target=time.sleep, args=(30,), daemon=True)
        alive.start()
        stub = Stub(holding=True, age=5)
        health.watch(stub, alive)
        assert get(port, "/healthz") == (200, "ok\n")
        stub.age = 11  # stuck with records waiting
        code, body = get(port, "/healthz")
        assert code == 503 and "no progress for 11 s" in body
        stub.holding = False  # nothing waits: an old commit is no stall
        assert get(port, "/healthz")[0] == 200
        dead = threading.Thread(target=lambda: None)
        dead.start()
        dead.join()
        health.watch(Stub(False, 0), dead)
        assert get(port, "/healthz")[0] == 503
        code, text = get(port, "/metrics")
        assert code == 200 and "streamproc_worker_last_progress_age_seconds" in text
    finally:
        server.shutdown()


def test_worker_progress_age_is_zero_when_idle_and_grows_while_stuck(tmp_path: Path) -> None:
    worker, transport = make_worker(tmp_path, FakeScorer())
    assert worker.step() == 0 and worker.progress_age() == 0.0  # idle, nothing to consume
    send(transport, None, per_camera=1)

    def down(requests: list[ScoreRequest], results: list[ScoreResult]) -> None:
        raise ConnectionError("model unreachable")

    worker.scorer = FakeScorer(hook=down)
    worker.progress_at -= 100  # as if the last commit were long ago
    with pytest.raises(ConnectionError):
        worker.step()  # a transient failure: the batch is kept for the retry
    assert worker.holding and worker.progress_age() >= 100
    worker.scorer = FakeScorer()
    assert worker.step() > 0 and worker.progress_age() < 1
