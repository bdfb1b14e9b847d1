"""The stream worker: frames topic -> model -> per-camera state -> scores/alerts topics.

One poll is one batch: decode it, check each window against the model's contract, score
every window in one model call, apply each window to its camera's state in an atomic
transaction that also records the messages to publish (outbox), send them as typed
events through the alert sink (``alerts/sinks.py``: the alerts and scores topics, and the
CLI's printer) and flush them together with the batch's dead letters, clear the outbox,
and only then commit the batch's offsets.

Up to ``max_in_flight`` batches are in hand: while the model scores batch N, the worker
polls batches N+1, N+2, ... and submits them too, so the model (every replica of it) does
not wait for the worker's own poll, state, publish and commit work. Batches finish in
poll order, so each camera's windows are applied in sequence.

Failure model (``runtime/failures.py``): a record that fails deterministically (it does
not decode, breaks the window contract, its scoring or its decision raises a data or
config error, its camera's stored state does not validate) is dead-lettered on its own
and the rest of the batch goes on. A transient failure (model, store or broker
unreachable) keeps the batch and retries it with backoff; a batch still failing after
``retry_deadline_s`` or ``max_attempts`` is tried record by record, and a record that
still fails alone is dead-lettered as ``retries-exhausted``. An outage of the broker or
the state store is ridden out, however long: its failed attempts do not count, and it
never dead-letters a record (``failures.is_outage``). Nothing is committed past a
record that was neither applied nor dead-lettered. A crash anywhere re-delivers the
uncommitted windows (at-least-once); already-applied frames are skipped by sequence
number and pending outbox messages are re-sent, with the same ids.

Version-2 messages carry each frame once (``transport/wire.py``); the worker builds their
windows from the frames it keeps (``runtime/assembly.py``) and commits no partition past
the oldest record holding a frame that a window in hand or still to come needs, so a
restart re-reads what it needs. A re-read window that cannot be built is skipped when
its camera's state shows it applied, else dead-lettered (``incomplete``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streamproc import metrics
from streamproc.alerts.lifecycle import (
    ScoredWindow,
    apply_scores,
    end_if_gone,
    end_open,
    is_retired,
)
from streamproc.alerts.schema import AlertEvent
from streamproc.alerts.sinks import AlertSink, FanOut, LogSink, TopicSink, outbox_event
from streamproc.config.transport import TopicsConfig
from streamproc.cpu import stage
from streamproc.runtime import killpoint
from streamproc.runtime.assembly import FrameMemory, Incomplete
from streamproc.runtime.batch import Batch, Item
from streamproc.runtime.contract import check_window
from streamproc.runtime.failures import (
    MAX_ERROR_CHARS,
    Failure,
    failure_while_applying,
    failure_while_scoring,
    is_outage,
    is_transient,
)
from streamproc.serving.client import ScorerClient
from streamproc.serving.scorer import ScoreRequest, ScoreResult
from streamproc.threshold.base import CameraSettings, CameraState, StateStore
from streamproc.threshold.errors import CorruptStateError
from streamproc.threshold.policy import Calibrated, Policy
from streamproc.transport.base import Consumer, Producer, Record
from streamproc.transport.wire import WireWindow, decode_message, encode_window

log = logging.getLogger("streamproc.worker")
LAG_EVERY_S = 1.0  # the lag gauge costs a broker round trip (end offsets) on Kafka
COMMITTED_LAG_EVERY_S = 15.0  # the committed-lag gauge: a round trip per partition
PREFETCH_WAIT_S = 0.05  # longest wait for the next batch while one is being scored
MAX_ERRORS_KEPT = 100  # of WorkerStats.errors: a long outage must not grow it forever
SWEEP_EVERY_S = 30.0  # how often a worker looks for cameras gone with an incident open


@dataclass
class WorkerStats:
    windows: int = 0
    bad_messages: int = 0
    batches: int = 0
    published: int = 0
    skipped: int = 0  # late windows of a retired stream; re-read ones already applied
    gone: int = 0  # incidents ended because their camera stopped sending
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS_KEPT))


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
        *,
        window_length: int | None = None,
        retry_deadline_s: float = 120.0,
        max_attempts: int = 5,
        backoff_s: tuple[float, float] = (0.5, 30.0),
        sink: AlertSink | None = None,
        frame_memory_bytes: int = 1 << 30,
    ) -> None:
        self.consumer, self.producer, self.store, self.scorer = consumer, producer, store, scorer
        self.topics, self.policy, self.cal = topics, policy, calibrated
        self.max_records, self.poll_timeout_s = max_records, poll_timeout_s
        # The outbox's one way out: the topics, and ``on_message`` (the CLI's printer).
        topic_sink = TopicSink(producer, topics)
        self.sink = sink or (FanOut(topic_sink, LogSink(on_message)) if on_message else topic_sink)
        self.max_in_flight = max(1, max_in_flight)
        self.window_length = window_length  # the model's; None accepts any length
        self.memory = FrameMemory(frame_memory_bytes)
        self.retry_deadline_s, self.max_attempts = retry_deadline_s, max(1, max_attempts)
        self.backoff_s = backoff_s  # (first, longest) wait between attempts
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._lag_at = 0.0
        self._committed_lag_at = 0.0
        # Polled and submitted, in poll order; the first is being finished (or retried).
        self._in_flight: deque[Batch] = deque()
        self._holding = 0  # batches polled and not yet committed
        self._invalid_settings: set[str] = set()  # cameras already warned about
        self._swept_at = time.monotonic()  # the first sweep waits a period (state warms up)
        self.progress_at = time.monotonic()  # last commit, or last poll with nothing to do
        self._idle = False  # the last poll found nothing and nothing is in hand
        self._applied: set[str] = set()  # cameras whose windows this worker applied

    def stop(self) -> None:
        self._stop.set()

    @property
    def holding(self) -> bool:
        """True while polled records are not yet committed (being scored or retried)."""
        return self._holding > 0

    def progress_age(self) -> float:
        """Seconds since this worker last committed a batch; 0 while it is idle with
        nothing to consume (``/healthz`` and the progress-age gauge)."""
        if self._idle and not self.holding:
            return 0.0
        return max(0.0, time.monotonic() - self.progress_at)

    def run(self) -> None:
        """Loop until stopped. A failing cycle is retried with backoff on the same batch."""
        first, longest = self.backoff_s
        delay = first
        while not self._stop.is_set():
            try:
                self.step()
                delay = first
            except Exception as err:  # retry: the batch is kept and nothing was committed
                msg = f"{type(err).__name__}: {err}"
                self.stats.errors.append(msg)
                metrics.RETRIES.labels(component="worker").inc()
                log.warning("worker cycle failed (%s); retrying in %.1f s", msg, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, longest)
        if self._drain():
            self.end_incidents()

    def step(self) -> int:
        """Finish the oldest batch (polling one first if none is in hand, and topping up
        the batches in flight while it is scored); returns the windows processed."""
        if not self._in_flight:
            first = self._take(self.poll_timeout_s)
            self._idle = first is None
            if first is None:
                self.progress_at = time.monotonic()  # idle, nothing waits: not stuck
                self._lag()  # an idle worker keeps the gauge fresh (it falls to 0)
                self._sweep()
                return 0
            self._in_flight.append(first)
        while len(self._in_flight) < self.max_in_flight:
            more = self._take(PREFETCH_WAIT_S)
            if more is None:
                break
            self._in_flight.append(more)
        batch = self._in_flight[0]
        try:
            n = self._finish(batch)  # raises -> every batch is kept and retried
        except Exception as err:
            self._failed(batch, err)
            raise
        self._in_flight.popleft()
        self._lag()
        self._sweep()
        return n

    def _failed(self, batch: Batch, err: Exception) -> None:
        """Count a failed attempt; past the deadline the batch's records go one by one.
        An outage's attempts are not counted, and the deadline starts again after it."""
        if is_outage(err):
            batch.failing_since = None
            return
        now = time.monotonic()
        batch.attempts += 1
        if batch.failing_since is None:
            batch.failing_since = now
        late = now - batch.failing_since >= self.retry_deadline_s
        if not batch.exhausted and (late or batch.attempts >= self.max_attempts):
            batch.exhausted = batch.alone = True
            log.error(
                "a batch of %d records still fails after %d attempts in %.0f s (%s: %s); "
                "trying each record alone, and dead-lettering one that still fails",
                len(batch.items),
                batch.attempts,
                now - batch.failing_since,
                type(err).__name__,
                err,
            )

    def _drain(self) -> bool:
        """On stop: finish what is in hand if that still works; else it is redelivered.
        True when everything in hand was finished."""
        done = True
        for batch in self._in_flight:
            try:
                self._finish(batch)
            except Exception as err:
                log.info("batch left uncommitted at stop (%s); it will be redelivered", err)
                done = False
                break
        self._in_flight.clear()
        self._holding = 0
        return done

    def end_incidents(self) -> int:
        """After a clean stop that finished all it held: end the open incident of every
        camera this worker applied windows to, as ``shutdown``, so no incident stays open
        with nobody to end it. Never on a crash (run() does not return then), and not
        when windows were left for redelivery: the next worker resumes those incidents.
        Returns how many were ended; a failure is logged, the stop goes on."""
        ended = 0
        for camera in sorted(self._applied):
            try:
                ended += self._end_camera(camera)
            except Exception as err:
                log.warning(
                    "camera %s: could not end its incident at shutdown (%s: %s); it stays "
                    "open until the camera returns or alerts.camera_timeout_s passes",
                    camera,
                    type(err).__name__,
                    err,
                )
        if ended:
            log.info("stopped cleanly: ended %d open incident(s) as 'shutdown'", ended)
        return ended

    def _end_camera(self, camera: str) -> int:
        state = self.store.get_state(camera)  # a cheap read first: most have none open
        if state is None or state.alert is None:
            return 0

        def fn(current: CameraState | None) -> tuple[CameraState, CameraState | None]:
            ended = end_open(current, camera, "shutdown", self.cal)
            return (ended, ended) if ended is not None else (current or CameraState(), None)

        ended = self.store.transact(camera, fn)
        if ended is None:
            return 0
        self._publish_outbox(camera, ended)
        self.sink.flush()
        self._clear_outbox(camera, ended.outbox)
        return 1

    def _take(self, timeout_s: float) -> Batch | None:
        with stage("fetch"):
            records = self.consumer.poll(self.max_records, timeout_s)
        if not records:
            return None
        killpoint.reached("poll")
        self._holding += 1
        offsets: dict[tuple[str, int], int] = {}
        with stage("decode"):
            items = [self._decoded(rec, offsets) for rec in records]
        batch = Batch(items, offsets)
        try:
            self._submit(batch)
        except Exception as err:  # the batch is held; _finish submits it again
            log.warning("could not submit a batch for scoring (%s); will retry", err)
        return batch

    def _decoded(self, rec: Record, offsets: dict[tuple[str, int], int]) -> Item:
        key = (rec.topic, rec.partition)
        offsets[key] = max(offsets.get(key, 0), rec.offset + 1)
        item = Item(rec)
        # Broad on purpose: the records are polled, so an error escaping here would
        # drop them unseen; a bug in a check dead-letters them instead (replayable).
        try:
            msg = decode_message(rec.value)
            built = self.memory.build(msg, rec)
        except Incomplete as err:  # settled in _finish: skipped if applied, else dead
            item.partial, item.missing = msg, str(err)
            return item
        except Exception as err:  # WireError; decode_message raises nothing else
            item.failure = Failure.of("decode", err)
            return item
        if built.since < rec.offset:
            item.since = built.since
        try:
            check_window(built.window, self.window_length, time.time())
            item.window = built.window
        except Exception as err:  # ContractError
            item.window = built.window  # kept for the dead letter, never scored
            item.failure = Failure.of("contract", err)
        return item

    def _settings(self, camera: str) -> CameraSettings:
        """The camera's settings; its defaults when the stored ones no longer validate
        (written before validation existed): the camera is still watched, with the
        artifact's threshold over the whole frame, until an operator sets or resets it."""
        try:
            return self.store.get_settings(camera)
        except CorruptStateError as err:
            metrics.INVALID_SETTINGS.labels(camera=camera).inc()
            if camera not in self._invalid_settings:
                self._invalid_settings.add(camera)
                log.warning("camera %s: using default settings: %s", camera, err)
            return CameraSettings()

    def _request(self, batch: Batch, w: WireWindow) -> ScoreRequest:
        s = batch.settings[w.camera]
        heatmap = self.policy.alerts.heatmaps
        return ScoreRequest(w.camera, w.seq, w.frames, w.context, s.roi, s.exclude, heatmap)

    def _submit(self, batch: Batch) -> None:
        """Read each camera's settings once per batch (an operator's change applies from
        the next batch on) and hand the windows to the model."""
        todo = batch.to_score()
        if not todo:
            return
        for camera in dict.fromkeys(i.window.camera for i in todo if i.window):
            if camera not in batch.settings:
                batch.settings[camera] = self._settings(camera)
        requests = [self._request(batch, i.window) for i in todo if i.window]
        batch.submitted_at = time.perf_counter()
        batch.pending = self.scorer.submit(requests)
        batch.requested = todo

    def _score(self, batch: Batch) -> None:
        """Scores for every window still to score: one call for the batch, or, once that
        failed for a reason of its own, one call per window, so a window the model cannot
        take is dead-lettered (``scoring``) and not the whole batch with it."""
        if not batch.alone and batch.to_score():
            try:
                if batch.pending is None:
                    self._submit(batch)  # the local scorer scores (and raises) right here
                assert batch.pending is not None
                results = batch.pending.result()
                if len(results) != len(batch.requested):
                    raise ValueError(f"{len(results)} results for {len(batch.requested)} requests")
            except Exception as err:
                batch.pending = None  # submitted again on the retry
                if is_transient(err):
                    raise
                log.warning("a batch scoring call failed (%s); scoring its windows alone", err)
                batch.alone = True
            else:
                metrics.INFERENCE_LATENCY.observe(time.perf_counter() - batch.submitted_at)
                for item, result in zip(batch.requested, results, strict=True):
                    self._scored(item, result)
        for item in batch.to_score() if batch.alone else []:
            assert item.window is not None
            try:
                if item.window.camera not in batch.settings:
                    batch.settings[item.window.camera] = self._settings(item.window.camera)
                (result,) = self.scorer.submit([self._request(batch, item.window)]).result()
            except Exception as err:
                item.failure = failure_while_scoring(err, batch.exhausted)
                if item.failure is None:
                    raise
                continue
            self._scored(item, result)

    def _scored(self, item: Item, result: ScoreResult) -> None:
        """Keep a window's result, or dead-letter the window (``scoring``) when the model
        says it failed for that one request, or answered for another shape or window."""
        w = item.window
        assert w is not None
        if result.error is not None:
            item.failure = Failure("scoring", result.error[:MAX_ERROR_CHARS], "ScoreResult.error")
        elif (result.camera, result.seq) != (w.camera, w.seq):
            what = f"a result for {result.camera}/{result.seq} in the place of {w.camera}/{w.seq}"
            item.failure = Failure("scoring", what, "ScoreResult")
        elif len(result.scores) != len(w.timestamps):
            n, t = len(result.scores), len(w.timestamps)
            item.failure = Failure("scoring", f"{n} scores for {t} frames", "ScoreResult")
        else:
            item.result = result
            metrics.WINDOWS_SCORED.labels(camera=w.camera).inc()

    def _finish(self, batch: Batch) -> int:
        """Scores -> state -> publish -> flush -> clear outbox -> commit. Safe to repeat:
        applying is idempotent by sequence number and outbox ids are stable."""
        self._settle(batch)
        self._score(batch)
        with stage("state"):
            touched = self._apply_all(batch)
        killpoint.reached("apply")
        with stage("publish"):
            for camera, state in touched.items():
                self._publish_outbox(camera, state)
            killpoint.reached("publish")
            # Sent last, so a failure above does not send them twice; counted only once the
            # flush has delivered them, and not sent again if a later step is retried.
            bad = [i for i in batch.items if i.failure is not None and not i.dead_lettered]
            for item in bad:
                self._dead_letter(item)
            self.sink.flush()
            if bad:
                self.producer.flush()  # the dead letters (a no-op if the sink flushed it)
        killpoint.reached("flush")
        for item in bad:
            assert item.failure is not None
            item.dead_lettered = True
            metrics.BAD_MESSAGES.labels(reason=item.failure.reason).inc()
            self.stats.bad_messages += 1
        with stage("state"):
            for camera, state in touched.items():
                self._clear_outbox(camera, state.outbox)
        if not batch.done():
            # Cannot happen by construction; if it ever did, committing would lose windows.
            raise RuntimeError("a record of the batch was neither applied nor dead-lettered")
        killpoint.reached("commit")  # before it
        with stage("publish"):
            self.consumer.commit(self._commit_offsets(batch))
        self.progress_at = time.monotonic()
        self._holding -= 1
        self.stats.batches += 1
        applied = len(batch.scored())
        self.stats.windows += applied
        return applied

    def _apply_all(self, batch: Batch) -> dict[str, CameraState]:
        """Apply every scored window to its camera's state; the cameras' new states."""
        touched: dict[str, CameraState] = {}
        for item in batch.scored():
            assert item.window is not None and item.result is not None
            w = item.window
            try:
                touched[w.camera] = self._apply(w, item.result, batch.settings[w.camera])
            except Exception as err:
                item.failure = failure_while_applying(err, batch.exhausted)
                if item.failure is None:
                    raise
        return touched

    def _settle(self, batch: Batch) -> None:
        """Each window that could not be built: skipped if its camera's state shows it
        applied (a re-read after a restart or rebalance), else dead-lettered."""
        replayed = 0
        for item in batch.unsettled():
            msg = item.partial
            assert msg is not None
            try:
                state = self.store.get_state(msg.camera)
            except Exception as err:
                item.failure = failure_while_applying(err, batch.exhausted)
                if item.failure is None:
                    raise
                continue
            last = msg.seq + len(msg.timestamps) - 1
            applied = state is not None and state.stream == msg.stream and state.last_seq >= last
            if applied or is_retired(state, msg.stream):
                item.skipped = True
                replayed += 1
                self.stats.skipped += 1
                metrics.WINDOWS_SKIPPED.labels(reason="replayed").inc()
            else:
                item.failure = Failure("incomplete", item.missing[:MAX_ERROR_CHARS], "Incomplete")
        if replayed:
            log.info(
                "skipped %d re-read window(s) already applied whose earlier frames this "
                "worker does not hold (after a restart or rebalance)",
                replayed,
            )

    def _commit_offsets(self, batch: Batch) -> dict[tuple[str, int], int]:
        """The batch's offsets, held back to the oldest record holding a frame that a
        later window needs: one kept in memory, or one a window in hand was built from."""
        try:
            owned: set[tuple[str, int]] | None = self.consumer.assignment()
        except Exception:  # only prunes memory; never a reason to stop
            owned = None
        held = self.memory.pins(owned)
        at = next((n for n, b in enumerate(self._in_flight) if b is batch), -1)
        for item in (i for b in list(self._in_flight)[at + 1 :] for i in b.items):
            if item.since is not None:
                tp = (item.record.topic, item.record.partition)
                held[tp] = min(held.get(tp, item.since), item.since)
        return {tp: min(off, held.get(tp, off)) for tp, off in batch.offsets.items()}

    def _dead_letter(self, item: Item) -> None:
        rec, failure = item.record, item.failure
        assert failure is not None
        log.warning(
            "dead-letter %s[%d]@%d (%s): %s",
            rec.topic,
            rec.partition,
            rec.offset,
            failure.reason,
            failure.error,
        )
        headers = [
            ("error", failure.error.encode()),
            ("error_class", failure.error_class.encode()),
            ("reason", failure.reason.encode()),
            ("source_topic", rec.topic.encode()),
            ("source_partition", str(rec.partition).encode()),
            ("source_offset", str(rec.offset).encode()),
        ]
        value = rec.value
        if item.since is not None and item.window is not None:
            # Built with frames of earlier records: the dead letter holds the whole
            # window (version 1), so it can be replayed on its own.
            value = encode_window(item.window)
            headers.append(("rebuilt_from_offset", str(item.since).encode()))
        self.producer.send(self.topics.dead_letter, value, rec.key, headers)

    def _apply(self, w: WireWindow, r: ScoreResult, settings: CameraSettings) -> CameraState:
        cal = Calibrated(self.cal.mean, self.cal.std, self.cal.k, r.model_version)
        now = time.time()

        def fn(state: CameraState | None) -> tuple[CameraState, CameraState]:
            window = ScoredWindow(
                w.camera,
                w.seq,
                r.scores,
                list(w.timestamps),
                w.stream,
                r.heatmap_png_b64,
                w.segment,
            )
            new = apply_scores(
                state, window, settings, cal, self.policy, self.topics.publish_scores, now
            )
            return new, new

        state = self.store.transact(w.camera, fn)
        self._applied.add(w.camera)
        if state.stream == w.stream and state.last_seq == w.seq + len(w.timestamps) - 1:
            # Decided now (a re-read window already applied decides nothing).
            late = max(0.0, time.time() - w.timestamps[-1])
            metrics.CAPTURE_TO_DECISION.labels(camera=w.camera).observe(late)
        if is_retired(state, w.stream):
            # Counted here, not in fn: a store may run fn more than once.
            self.stats.skipped += 1
            metrics.WINDOWS_SKIPPED.labels(reason="retired-stream").inc()
            log.info("camera %s: skipped a late window of retired stream %r", w.camera, w.stream)
        return state

    def _sweep(self) -> None:
        """Every SWEEP_EVERY_S: end the open incident of each camera that sent nothing for
        ``alerts.camera_timeout_s``, through the state transaction and the outbox like any
        decision, so the ``end`` is published at least once and decided exactly once (a
        racing worker's transaction finds the incident already closed). Failures are
        logged and retried at the next sweep; they never stop the stream."""
        now_m = time.monotonic()
        if now_m - self._swept_at < SWEEP_EVERY_S:
            return
        self._swept_at = now_m
        timeout_s = self.policy.alerts.camera_timeout_s
        try:
            for camera in self.store.cameras():
                self.sweep_camera(camera, time.time(), timeout_s)
        except Exception as err:
            log.warning(
                "camera-gone sweep failed (%s: %s); next in %.0f s",
                type(err).__name__,
                err,
                SWEEP_EVERY_S,
            )

    def sweep_camera(self, camera: str, now: float, timeout_s: float) -> bool:
        """End ``camera``'s incident if it is gone; True when this call ended it."""
        state = self.store.get_state(camera)  # a cheap read first: most have none open
        if end_if_gone(state, camera, now, timeout_s, self.cal) is None:
            return False

        def fn(current: CameraState | None) -> tuple[CameraState, CameraState | None]:
            ended = end_if_gone(current, camera, now, timeout_s, self.cal)
            return (ended, ended) if ended is not None else (current or CameraState(), None)

        ended = self.store.transact(camera, fn)
        if ended is None:
            return False  # another worker, or a new window, got there first
        log.info("camera %s sent nothing for %.0f s; its incident ended", camera, timeout_s)
        self._publish_outbox(camera, ended)
        self.sink.flush()
        self._clear_outbox(camera, ended.outbox)
        self.stats.gone += 1
        return True

    def _publish_outbox(self, camera: str, state: CameraState) -> None:
        now = time.time()
        for msg in state.outbox:
            event = outbox_event(msg)
            self.sink.send(event)
            self.stats.published += 1
            if isinstance(event, AlertEvent):
                metrics.ALERTS.labels(camera=camera, kind=event.kind).inc()
                if event.kind == "start":
                    lag = max(0.0, now - event.start_time)
                    metrics.CAPTURE_TO_ALERT.labels(camera=camera).observe(lag)

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
            if now - self._committed_lag_at >= COMMITTED_LAG_EVERY_S:
                self._committed_lag_at = now
                for (_, part), lag in self.consumer.committed_lag().items():
                    metrics.CONSUMER_COMMITTED_LAG.labels(partition=str(part)).set(lag)
        except Exception:  # metrics must never stop the worker
            pass
