"""Camera affinity (serving/affinity.py): a batch is cut into one call per camera shard,
each call names its shard the way Serve's model multiplexing routes by, and the scores
come back in the batch's order. Without Ray: the HTTP peer against a recording server."""

from __future__ import annotations

import http.server
import threading

import numpy as np
import pytest

from streamproc.serving.affinity import HEADER, Sharded, by_shard, shard_of
from streamproc.serving.client import HttpScorer
from streamproc.serving.http_codec import decode_batch, encode_results
from streamproc.serving.scorer import ScoreRequest, ScoreResult

CAMERAS = [f"cam-{i}" for i in range(12)]


def window(camera: str, seq: int) -> ScoreRequest:
    return ScoreRequest(camera, seq, np.full((2, 8, 8), seq % 256, np.uint8))


def result(r: ScoreRequest) -> ScoreResult:
    return ScoreResult(r.camera, r.seq, [float(r.seq)] * len(r.frames), "v1")


def test_a_camera_always_lands_in_the_same_shard() -> None:
    shards = {c: shard_of(c, 4) for c in CAMERAS}
    assert shards == {c: shard_of(c, 4) for c in CAMERAS}  # no per-process salt
    assert set(shards.values()) <= {f"shard-{i}" for i in range(4)}
    assert len(set(shards.values())) > 1  # twelve cameras spread over the shards
    requests = [window(c, s) for s in range(3) for c in CAMERAS]
    groups = by_shard(requests, 4)
    assert sorted(i for g in groups.values() for i in g) == list(range(len(requests)))
    for shard, positions in groups.items():
        assert {shard_of(requests[i].camera, 4) for i in positions} == {shard}


class FakePart:
    def __init__(self, results: list[ScoreResult] | None) -> None:
        self.results, self.cancelled = results, False

    def result(self) -> list[ScoreResult]:
        if self.results is None:
            raise TimeoutError("no result within 60 s")
        return self.results

    def cancel(self) -> None:
        self.cancelled = True


def test_sharded_scores_come_back_in_request_order() -> None:
    requests = [window(c, s) for s, c in enumerate(CAMERAS)]
    groups = by_shard(requests, 3)
    parts = [(ps, FakePart([result(requests[i]) for i in ps])) for ps in groups.values()]
    got = Sharded(len(requests), list(parts)).result()
    assert [(r.camera, r.seq) for r in got] == [(r.camera, r.seq) for r in requests]
    with pytest.raises(ValueError, match="results for"):
        Sharded(len(requests), [(parts[0][0], FakePart([]))]).result()


def test_a_failed_shard_call_cancels_the_others() -> None:
    requests = [window(c, 0) for c in CAMERAS]
    groups = list(by_shard(requests, 3).values())
    parts = [
        (groups[0], FakePart([result(requests[i]) for i in groups[0]])),
        (groups[1], FakePart(None)),  # times out
        (groups[2], FakePart([result(requests[i]) for i in groups[2]])),
    ]
    with pytest.raises(TimeoutError):
        Sharded(len(requests), list(parts)).result()
    assert [p.cancelled for _, p in parts] == [False, False, True]


def test_http_scorer_posts_each_shard_with_its_routing_header() -> None:
    seen: list[tuple[str | None, list[str]]] = []
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            requests = decode_batch(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                seen.append((self.headers.get(HEADER), [r.camera for r in requests]))
            body = encode_results([result(r) for r in requests])
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/streamproc"
    requests = [window(c, s) for s in range(2) for c in CAMERAS]
    try:
        sharded = HttpScorer(url, 5, token="", shards=4)
        got = sharded.submit(requests).result()
        assert [(r.camera, r.seq) for r in got] == [(r.camera, r.seq) for r in requests]
        assert len(seen) == len(by_shard(requests, 4)) > 1
        for shard, cameras in seen:
            assert shard is not None and {shard_of(c, 4) for c in cameras} == {shard}
        sharded.close()

        seen.clear()
        whole = HttpScorer(url, 5, token="", shards=0)  # affinity off: one call, no header
        assert len(whole.submit(requests).result()) == len(requests)
        assert seen == [(None, [r.camera for r in requests])]
        whole.close()
    finally:
        server.shutdown()
