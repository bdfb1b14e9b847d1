"""The stream worker: frames topic -> model -> per-camera state -> scores/alerts topics.

One poll is one batch: decode it (bad messages go to the dead-letter topic), score every
window in one model call, apply each window to its camera's state in an atomic
transaction that also records the messages to publish (outbox), publish and flush
them, clear the outbox, and only then commit the batch's offsets.

Up to ``max_in_flight`` batches are in hand: while the model scores batch N, the worker
polls batches N+1, N+2, ... and submits them too, so the model (every replica of it) does
not wait for the worker's own poll, state, publish and commit work. Batches finish in
poll order, so each camera's windows are applied in sequence.

A failing cycle (model, store or broker unreachable) keeps its batch and retries it
with backoff; nothing is committed past a batch that has not finished, so no window is
skipped. A crash anywhere re-delivers the uncommitted windows (at-least-once);
already-applied frames are skipped by sequence number and pending outbox messages are
re-sent, with the same ids.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamproc import metrics
from streamproc.alerts.lifecycle import Calibrated, Policy, apply_scores
from streamproc.config.transport import TopicsConfig
from streamproc.serving.client import PendingScores, ScorerClient
from streamproc.serving.scorer import ScoreRequest, ScoreResult
from streamproc.threshold.base import CameraSettings, CameraState, StateStore
from streamproc.transport.base import Consumer, Producer, Record
from streamproc.transport.wire import WireError, WireWindow, decode_window

log = logging.getLogger("streamproc.worker")
LAG_EVERY_S = 1.0  # the lag gauge costs a broker round trip (end offsets) on Kafka
PREFETCH_WAIT_S = 0.05  # longest wait for the next batch while one is being scored


@dataclass
class Batch:
    """The records of one poll, from decoding until their offsets are committed."""

    windows: list[WireWindow]
    bad: list[tuple[Record, str]]  # undecodable records and why, for the dead-letter topic
    offsets: dict[tuple[str, int], int]  # (topic, partition) -> next offset to commit
    settings: dict[str, CameraSettings] = field(default_factory=dict)
    pending: PendingScores | None = None
    submitted_at: float = 0.0
    results: list[ScoreResult] | None = None


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
        max_in_flight: int = 3,
    ) -> None:
        self.consumer, self.producer, self.store, self.scorer = consumer, producer, store, scorer
        self.topics, self.policy, self.cal = topics, policy, calibrated
        self.max_records, self.poll_timeout_s = max_records, poll_timeout_s
        self.on_message = on_message
        self.max_in_flight = max(1, max_in_flight)
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._lag_at = 0.0
        # Polled and submitted, in poll order; the first is being finished (or retried).
        self._in_flight: deque[Batch] = deque()
        self._holding = 0  # batches polled and not yet committed

    def stop(self) -> None:
        self._stop.set()

    @property
    def holding(self) -> bool:
        """True while polled records are not yet committed (being scored or retried)."""
        return self._holding > 0

    def run(self) -> None:
        """Loop until stopped. A failing cycle is retried with backoff on the same batch."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.step()
                delay = 0.5
            except Exception as err:  # retry: the batch is kept and nothing was committed
                msg = f"{type(err).__name__}: {err}"
                self.stats.errors.append(msg)
                metrics.RETRIES.labels(component="worker").inc()
                log.warning("worker cycle failed (%s); retrying in %.1f s", msg, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 30.0)
        self._drain()

    def step(self) -> int:
        """Finish the oldest batch (polling one first if none is in hand, and topping up
        the batches in flight while it is scored); returns the windows processed."""
        if not self._in_flight:
            first = self._take(self.poll_timeout_s)
            if first is None:
                self._lag()  # an idle worker keeps the gauge fresh (it falls to 0)
                return 0
            self._in_flight.append(first)
        while len(self._in_flight) < self.max_in_flight:
            more = self._take(PREFETCH_WAIT_S)
            if more is None:
                break
            self._in_flight.append(more)
        n = self._finish(self._in_flight[0])  # raises -> every batch is kept and retried
        self._in_flight.popleft()
        self._lag()
        return n

    def _drain(self) -> None:
        """On stop: finish what is in hand if that still works; else it is redelivered."""
        for batch in self._in_flight:
            try:
                self._finish(batch)
            except Exception as err:
                log.info("batch left uncommitted at stop (%s); it will be redelivered", err)
                break
        self._in_flight.clear()
        self._holding = 0

    def _take(self, timeout_s: float) -> Batch | None:
        records = self.consumer.poll(self.max_records, timeout_s)
        if not records:
            return None
        self._holding += 1
        offsets: dict[tuple[str, int], int] = {}
        windows, bad = [], []
        for rec in records:
            key = (rec.topic, rec.partition)
            offsets[key] = max(offsets.get(key, 0), rec.offset + 1)
            try:
                windows.append(decode_window(rec.value))
            except WireError as err:
                bad.append((rec, str(err)))
        batch = Batch(windows, bad, offsets)
        try:
            self._submit(batch)
        except Exception as err:  # the batch is held; _finish submits it again
            log.warning("could not submit a batch for scoring (%s); will retry", err)
        return batch

    def _submit(self, batch: Batch) -> None:
        """Read each camera's settings once per batch (an operator's change applies from
        the next batch on) and hand the windows to the model."""
        if not batch.windows:
            return
        cameras = dict.fromkeys(w.camera for w in batch.windows)
        batch.settings = {c: self.store.get_settings(c) for c in cameras}
        requests = []
        for w in batch.windows:
            s = batch.settings[w.camera]
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
        batch.submitted_at = time.perf_counter()
        batch.pending = self.scorer.submit(requests)

    def _finish(self, batch: Batch) -> int:
        """Scores -> state -> publish -> flush -> clear outbox -> commit. Safe to repeat:
        applying is idempotent by sequence number and outbox ids are stable."""
        if batch.results is None and batch.windows:
            if batch.pending is None:
                self._submit(batch)
            assert batch.pending is not None
            try:
                batch.results = batch.pending.result()
            except Exception:
                batch.pending = None  # submitted again on the retry
                raise
            metrics.INFERENCE_LATENCY.observe(time.perf_counter() - batch.submitted_at)
            for w in batch.windows:
                metrics.WINDOWS_SCORED.labels(camera=w.camera).inc()
        touched: dict[str, CameraState] = {}
        for w, r in zip(batch.windows, batch.results or [], strict=True):
            touched[w.camera] = self._apply(w, r, batch.settings[w.camera])
        for camera, state in touched.items():
            self._publish_outbox(camera, state)
        # Sent last, so a failure above does not send them twice; counted only once the
        # flush has delivered them, and not sent again if a later step is retried.
        for rec, reason in batch.bad:
            self._dead_letter(rec, reason)
        self.producer.flush()
        for _, reason in batch.bad:
            metrics.BAD_MESSAGES.labels(reason=reason.split(":")[0][:40]).inc()
            self.stats.bad_messages += 1
        batch.bad = []
        for camera, state in touched.items():
            self._clear_outbox(camera, state.outbox)
        self.consumer.commit(batch.offsets)
        self._holding -= 1
        self.stats.batches += 1
        self.stats.windows += len(batch.windows)
        return len(batch.windows)

    def _dead_letter(self, rec: Record, reason: str) -> None:
        log.warning("dead-letter %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, reason)
        headers = [
            ("error", reason.encode()),
            ("source_topic", rec.topic.encode()),
            ("source_partition", str(rec.partition).encode()),
            ("source_offset", str(rec.offset).encode()),
        ]
        self.producer.send(self.topics.dead_letter, rec.value, rec.key, headers)

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
