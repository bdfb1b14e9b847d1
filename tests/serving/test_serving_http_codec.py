"""The Serve HTTP route's body format (serving/http_codec.py) without Ray, and the
HttpScorer's errors when the route is unreachable, times out or refuses a batch, and
which of them the worker retries."""

from __future__ import annotations

import http.server
import socket
import struct
import threading

import numpy as np
import pytest

from streamproc.config.serving import ServingConfig
from streamproc.runtime.failures import is_transient
from streamproc.serving.client import HttpScorer, ScoringRejectedError, ScoringUnavailableError
from streamproc.serving.http_codec import (
    decode_batch,
    decode_results,
    encode_batch,
    encode_results,
)
from streamproc.serving.scorer import ScoreRequest, ScoreResult
from streamproc.transport.wire import WireError


def batch() -> list[ScoreRequest]:
    rng = np.random.default_rng(0)
    return [
        ScoreRequest("cam-a", 7, rng.integers(0, 255, (4, 24, 32), np.uint8)),
        ScoreRequest(
            "cam-b",
            2**40,
            rng.integers(0, 255, (3, 24, 32, 3), np.uint8),
            context=rng.integers(0, 255, (24, 32, 3), np.uint8),
            roi=[[(0.0, 0.0), (1.0, 0.0), (0.5, 1.0)]],
            exclude=[[(0.1, 0.1), (0.2, 0.1), (0.2, 0.2)]],
            heatmap=True,
        ),
    ]


def test_batch_round_trip() -> None:
    sent = batch()
    body = encode_batch(sent)
    assert b"pickle" not in body and body[:4] == b"SPB\x01"
    got = decode_batch(body)
    assert len(got) == len(sent)
    for a, b in zip(sent, got, strict=True):
        assert (a.camera, a.seq, a.roi, a.exclude, a.heatmap) == (
            b.camera, b.seq, b.roi, b.exclude, b.heatmap
        )  # fmt: skip
        np.testing.assert_array_equal(a.frames, b.frames)
        assert (a.context is None) == (b.context is None)
        if a.context is not None:
            np.testing.assert_array_equal(a.context, b.context)
    assert decode_batch(encode_batch([])) == []


def test_results_round_trip_keeps_errors_and_nan() -> None:
    sent = [
        ScoreResult("cam-a", 1, [0.5, float("nan")], "v1", "aGk="),
        ScoreResult("cam-b", 2, [], "v1", error="window has 0 frames"),
    ]
    got = decode_results(encode_results(sent))
    assert [(r.camera, r.seq, r.model_version, r.error) for r in got] == [
        ("cam-a", 1, "v1", None), ("cam-b", 2, "v1", "window has 0 frames")
    ]  # fmt: skip
    assert got[0].scores[0] == 0.5 and np.isnan(got[0].scores[1])
    assert got[0].heatmap_png_b64 == "aGk="


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b"XYZ" + b[3:], "magic"),
        (lambda b: b[:3] + b"\x09" + b[4:], "version"),
        (lambda b: b[:-10], "announced"),
        (lambda b: b + b"extra", "after the last window"),
        (lambda b: b[:4] + struct.pack(">I", 10**6) + b[8:], "header length"),
    ],
)
def test_bad_bodies_say_what_is_wrong(mangle, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(WireError, match=message):
        decode_batch(mangle(encode_batch(batch())))


def test_bad_roi_is_refused() -> None:
    body = encode_batch(batch()[:1])
    (n,) = struct.unpack_from(">I", body, 4)
    header = body[8 : 8 + n].replace(b'"roi":[]', b'"roi":[[[1,"x"]]]')
    body = body[:4] + struct.pack(">I", len(header)) + header + body[8 + n :]
    with pytest.raises(WireError, match="roi"):
        decode_batch(body)


def test_unreachable_route_names_the_setting() -> None:
    scorer = HttpScorer("http://127.0.0.1:9/streamproc", timeout_s=2, token="t")
    assert scorer.headers == {"Authorization": "Bearer t"}
    with pytest.raises(ScoringUnavailableError, match=r"serving\.url"):
        scorer.submit(batch()).result()
    scorer.close()


def test_http_mode_needs_a_url() -> None:
    with pytest.raises(ValueError, match=r"serving\.url"):
        ServingConfig(mode="http")
    assert ServingConfig(mode="http", url="http://svc:8000/streamproc").url


@pytest.mark.parametrize(
    ("status", "kind", "transient"),
    [
        (400, ScoringRejectedError, False),  # the batch itself: its windows go alone
        (500, ScoringUnavailableError, True),  # a replica that died mid-request
        (503, ScoringUnavailableError, True),  # no replica ready
        (404, ScoringUnavailableError, True),  # the app not (yet) deployed
    ],
)
def test_http_errors_are_retried_unless_the_batch_was_refused(
    status: int, kind: type[Exception], transient: bool
) -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b'{"error": "x"}')

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scorer = HttpScorer(f"http://127.0.0.1:{server.server_port}/streamproc", 5, token="t")
    try:
        with pytest.raises(kind, match=f"HTTP {status}") as err:
            scorer.submit(batch()).result()
        assert is_transient(err.value) is transient
    finally:
        scorer.close()
        server.shutdown()


def test_a_timeout_is_transient() -> None:
    listener = socket.socket()  # accepts, never answers
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    scorer = HttpScorer(f"http://127.0.0.1:{listener.getsockname()[1]}/streamproc", 0.5)
    try:
        with pytest.raises(ScoringUnavailableError, match="timed out") as err:
            scorer.submit(batch()).result()
        assert is_transient(err.value)
    finally:
        scorer.close()
        listener.close()
