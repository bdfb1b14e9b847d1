"""Prometheus metrics of every stage, labelled by camera where that makes sense.

One registry per process; ``serve_metrics(port)`` exposes it on /metrics, with the
process's ``/healthz`` (liveness) and ``/readyz`` (readiness) from ``streamproc.health``.
"""

from __future__ import annotations

import functools
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from streamproc.dependencies import DEPENDENCIES, KNOWN
from streamproc.health import HEALTH, Health

REGISTRY = CollectorRegistry(auto_describe=True)

FRAMES_IN = Counter(
    "streamproc_frames_in_total", "Frames read from a camera.", ["camera"], registry=REGISTRY
)
FRAMES_DROPPED = Counter(
    "streamproc_frames_dropped_total",
    "Frames a camera produced that were not used (sampling to the target fps, or a full queue).",
    ["camera", "reason"],
    registry=REGISTRY,
)
WINDOWS_SENT = Counter(
    "streamproc_windows_sent_total",
    "Frame windows delivered to the frames topic (acknowledged by the broker).",
    ["camera"],
    registry=REGISTRY,
)
WINDOWS_DELIVERY_FAILED = Counter(
    "streamproc_windows_delivery_failed_total",
    "Frame windows the frames topic did not acknowledge (after the producer's retries).",
    ["camera"],
    registry=REGISTRY,
)
TRANSPORT_DROPPED = Counter(
    "streamproc_transport_dropped_total",
    "Messages the embedded (memory) transport dropped unread by a consumer group because "
    "its partition was full (transport.max_messages_per_partition).",
    ["topic"],
    registry=REGISTRY,
)
FRAMES_TOPIC_BYTES = Counter(
    "streamproc_frames_topic_bytes_total",
    "Bytes of frame windows handed to the frames topic (value, key and headers), by codec.",
    ["codec"],
    registry=REGISTRY,
)
WINDOWS_TOO_LARGE = Counter(
    "streamproc_windows_too_large_total",
    "Frame windows ingest dropped because they were over worker.max_message_bytes even in "
    "the camera's codec (the error log says what to change).",
    ["camera"],
    registry=REGISTRY,
)
WINDOWS_SCORED = Counter(
    "streamproc_windows_scored_total",
    "Frame windows scored by the model.",
    ["camera"],
    registry=REGISTRY,
)
BAD_MESSAGES = Counter(
    "streamproc_bad_messages_total",
    "Messages routed to the dead-letter topic, by reason (a fixed set: decode, contract, "
    "incomplete, scoring, decision, state, retries-exhausted).",
    ["reason"],
    registry=REGISTRY,
)
WINDOWS_SKIPPED = Counter(
    "streamproc_windows_skipped_total",
    "Windows not applied, by reason: retired-stream (a late window of a camera's capture "
    "session that a newer one replaced), replayed (a version-2 window re-read after a "
    "restart or rebalance without the earlier frames it carries, already applied).",
    ["reason"],
    registry=REGISTRY,
)
FRAME_MEMORY_BYTES = Gauge(
    "streamproc_frame_memory_bytes",
    "Pixels a worker keeps so that version-2 messages (each frame sent once) can be "
    "built into windows (worker.frame_memory_mb bounds it).",
    registry=REGISTRY,
)
FRAME_MEMORY_EVICTED = Counter(
    "streamproc_frame_memory_evicted_total",
    "Cameras forgotten because the frame memory was over worker.frame_memory_mb; their "
    "next partial windows are dead-lettered (incomplete).",
    registry=REGISTRY,
)
INVALID_SETTINGS = Counter(
    "streamproc_invalid_settings_total",
    "Batches that used a camera's default settings because its stored ones do not validate.",
    ["camera"],
    registry=REGISTRY,
)
CAMERA_UP = Gauge(
    "streamproc_camera_up",
    "1 while a camera delivers frames, 0 while it reconnects.",
    ["camera"],
    registry=REGISTRY,
)
CAMERA_RECONNECTS = Counter(
    "streamproc_camera_reconnects_total",
    "Reconnect attempts of a camera.",
    ["camera"],
    registry=REGISTRY,
)
CAPTURE_BREAKS = Counter(
    "streamproc_capture_breaks_total",
    "Breaks in a camera's capture (a new segment: no window spans one), by reason: "
    "reconnect, loop, gap, cut.",
    ["camera", "reason"],
    registry=REGISTRY,
)
INFERENCE_LATENCY = Histogram(
    "streamproc_inference_latency_seconds",
    "Model call latency for one batch of windows.",
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CAPTURE_TO_DECISION = Histogram(
    "streamproc_capture_to_decision_seconds",
    "From the capture of a window's newest frame to the worker's decision on it (applied "
    "to the camera's state), whether or not scores are published.",
    ["camera"],
    registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
CAPTURE_TO_ALERT = Histogram(
    "streamproc_capture_to_alert_seconds",
    "From the capture of an incident's first anomalous frame to its start message being "
    "published: detection delay (smoothing, persistence) plus the pipeline's latency.",
    ["camera"],
    registry=REGISTRY,
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
CONSUMER_LAG = Gauge(
    "streamproc_consumer_lag_messages",
    "Frames-topic messages not yet consumed, per partition.",
    ["partition"],
    registry=REGISTRY,
)
CONSUMER_COMMITTED_LAG = Gauge(
    "streamproc_consumer_committed_lag_messages",
    "Frames-topic messages after the group's committed offset, per partition: Kafka's own "
    "LAG (kafka-consumer-groups.sh). It stays above the position lag by the frames a "
    "worker still holds for later windows (wire version 2 pins), about 2 per camera.",
    ["partition"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "streamproc_alerts_total",
    "Alert lifecycle messages published.",
    ["camera", "kind"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "streamproc_retries_total",
    "Retries after a failure, per component.",
    ["component"],
    registry=REGISTRY,
)


LAST_PROGRESS_AGE = Gauge(
    "streamproc_worker_last_progress_age_seconds",
    "Seconds since a worker of this process last committed a batch; 0 while idle with "
    "nothing to consume. The oldest worker's, when there are several.",
    registry=REGISTRY,
)
LAST_PROGRESS_AGE.set_function(HEALTH.progress_age)

DEPENDENCY_UNREACHABLE = Gauge(
    "streamproc_dependency_unreachable_seconds",
    "Seconds the dependency (kafka, redis) has been unreachable from this process; 0 while "
    "it answers. /readyz is false meanwhile; the process retries until it answers.",
    ["dependency"],
    registry=REGISTRY,
)
for _service in KNOWN:
    DEPENDENCY_UNREACHABLE.labels(dependency=_service).set_function(
        functools.partial(DEPENDENCIES.unreachable_s, _service)
    )


def _handler(health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, why = health.live() if path == "/healthz" else health.readiness()
                self._send(200 if ok else 503, (why + "\n").encode(), "text/plain")
            else:
                self._send(404, b"not found: /metrics, /healthz, /readyz\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would flood the log

    return Handler


def serve_metrics(port: int, addr: str = "0.0.0.0", health: Health = HEALTH) -> ThreadingHTTPServer:
    """Serve /metrics, /healthz and /readyz on ``addr:port`` from a background thread."""
    server = ThreadingHTTPServer((addr, port), _handler(health))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
