"""The stream worker: frames topic -> model -> per-camera state -> scores/alerts topics.

One poll is one batch: decode (bad messages go to the dead-letter topic), score every
window in one model call, apply each window to its camera's state in an atomic
transaction that also records the messages to publish (outbox), publish and flush
them, clear the outbox, and only then commit the consumer offsets. A crash anywhere
re-delivers the windows (at-least-once); already-applied frames are skipped by
sequence number and pending outbox messages are re-sent, with the same ids.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamproc import metrics
from streamproc.alerts.lifecycle import Calibrated, Policy, apply_scores
from streamproc.config.transport import TopicsConfig
from streamproc.serving.client import ScorerClient
from streamproc.serving.scorer import ScoreRequest, ScoreResult
from streamproc.threshold.base import CameraSettings, CameraState, StateStore
from streamproc.transport.base import Consumer, Producer, Record
from streamproc.transport.wire import WireError, WireWindow, decode_window

log = logging.getLogger("streamproc.worker")
LAG_EVERY_S = 1.0  # the lag gauge costs a broker round trip (end offsets) on Kafka


@dataclass
class WorkerStats:
    windows: int = 0
    bad_messages: int = 0
    batches: int = 0
    published: int = 0
    errors: list[str] = field(default_factory=list)


class StreamWorker:
    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        store: StateStore,
        scorer: ScorerClient,
        topics: TopicsConfig,
        policy: Policy,
        calibrated: Calibrated,
        max_records: int = 32,
        poll_timeout_s: float = 0.5,
        on_message: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.consumer, self.producer, self.store, self.scorer = consumer, producer, store, scorer
        self.topics, self.policy, self.cal = topics, policy, calibrated
        self.max_records, self.poll_timeout_s = max_records, poll_timeout_s
        self.on_message = on_message
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._lag_at = 0.0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Loop until stopped. A failing cycle (model, store or broker unreachable) is
        retried with backoff; nothing was committed, so its windows are redelivered."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.step()
                delay = 0.5
            except Exception as err:  # retry everything: the data is safe in the topic
                msg = f"{type(err).__name__}: {err}"
                self.stats.errors.append(msg)
                metrics.RETRIES.labels(component="worker").inc()
                log.warning("worker cycle failed (%s); retrying in %.1f s", msg, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def step(self) -> int:
        """One poll-score-apply-publish-commit cycle; returns windows processed."""
        records = self.consumer.poll(self.max_records, self.poll_timeout_s)
        if not records:
            self._lag()  # an idle worker keeps the gauge fresh (it falls to 0)
            return 0
        windows = self._decode(records)
        # One settings read per camera per batch: an operator's change applies from the
        # next batch on.
        settings = {c: self.store.get_settings(c) for c in dict.fromkeys(w.camera for w in windows)}
        results = self._score(windows, settings) if windows else []
        touched: dict[str, CameraState] = {}
        for w, r in zip(windows, results, strict=True):
            touched[w.camera] = self._apply(w, r, settings[w.camera])
        for camera, state in touched.items():
            self._publish_outbox(camera, state)
        self.producer.flush()
        for camera, state in touched.items():
            self._clear_outbox(camera, state.outbox)
        self.consumer.commit()
        self.stats.batches += 1
        self.stats.windows += len(windows)
        self._lag()
        return len(windows)

    def _decode(self, records: list[Record]) -> list[WireWindow]:
        out = []
        for rec in records:
            try:
                out.append(decode_window(rec.value))
            except WireError as err:
                self._dead_letter(rec, str(err))
        return out

    def _dead_letter(self, rec: Record, reason: str) -> None:
        log.warning("dead-letter %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, reason)
        headers = [
            ("error", reason.encode()),
            ("source_topic", rec.topic.encode()),
            ("source_partition", str(rec.partition).encode()),
            ("source_offset", str(rec.offset).encode()),
        ]
        self.producer.send(self.topics.dead_letter, rec.value, rec.key, headers)
        metrics.BAD_MESSAGES.labels(reason=reason.split(":")[0][:40]).inc()
        self.stats.bad_messages += 1

    def _score(
        self, windows: list[WireWindow], settings: dict[str, CameraSettings]
    ) -> list[ScoreResult]:
        requests = []
        for w in windows:
            s = settings[w.camera]
            requests.append(
                ScoreRequest(
                    w.camera,
                    w.seq,
                    w.frames,
                    w.context,
                    s.roi,
                    s.exclude,
                    heatmap=self.policy.alerts.heatmaps,
                )
            )
        t0 = time.perf_counter()
        results = self.scorer.score(requests)
        metrics.INFERENCE_LATENCY.observe(time.perf_counter() - t0)
        for w in windows:
            metrics.WINDOWS_SCORED.labels(camera=w.camera).inc()
        return results

    def _apply(self, w: WireWindow, r: ScoreResult, settings: CameraSettings) -> CameraState:
        cal = Calibrated(self.cal.mean, self.cal.std, self.cal.k, r.model_version)

        def fn(state: CameraState | None) -> tuple[CameraState, CameraState]:
            new = apply_scores(
                state,
                w.camera,
                w.seq,
                r.scores,
                list(w.timestamps),
                settings,
                cal,
                self.policy,
                r.heatmap_png_b64,
                self.topics.publish_scores,
                w.stream,
            )
            return new, new

        return self.store.transact(w.camera, fn)

    def _publish_outbox(self, camera: str, state: CameraState) -> None:
        now = time.time()
        for msg in state.outbox:
            topic = self.topics.alerts if msg["topic"] == "alerts" else self.topics.scores
            payload = msg["payload"]
            self.producer.send(topic, json.dumps(payload).encode(), camera.encode())
            self.stats.published += 1
            if msg["topic"] == "alerts":
                metrics.ALERTS.labels(camera=camera, kind=payload["kind"]).inc()
            else:
                metrics.CAPTURE_TO_ALERT.labels(camera=camera).observe(
                    max(0.0, now - payload["time"])
                )
            if self.on_message:
                self.on_message(msg["topic"], payload)

    def _clear_outbox(self, camera: str, sent: list[dict[str, Any]]) -> None:
        def fn(state: CameraState | None) -> tuple[CameraState, None]:
            st = state or CameraState()
            # Remove only what was published: a racing writer may have added more since.
            st.outbox = [m for m in st.outbox if m not in sent]
            return st, None

        if sent:
            self.store.transact(camera, fn)

    def _lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_at < LAG_EVERY_S:
            return
        self._lag_at = now
        try:
            for (_, part), lag in self.consumer.lag().items():
                metrics.CONSUMER_LAG.labels(partition=str(part)).set(lag)
        except Exception:  # metrics must never stop the worker
            pass
