"""CPU time per pipeline stage, from each thread's own accounting.

``with stage("model"):`` adds the CPU seconds the calling thread spent inside the block
(``time.thread_time``: user + system time of this thread, not wall time, so a busy or
shared machine does not inflate it) to ``streamproc_stage_cpu_seconds_total{stage}``.
Stages never nest, so they add up; CPU of threads that run no stage (Kafka client IO
threads, torch or OpenCV worker pools, the interpreter's GC) is the process's total
minus the stages, and ``streamproc bench cost`` reports it as such.

A model given one thread (``serving.threads: 1``, what Ray gives a replica with
``num_cpus: 1``) runs its forward on the calling thread, so the ``model`` stage then
holds all of it; with more threads the pool's share lands outside the stages.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, get_args

from prometheus_client import Counter

from streamproc.metrics import REGISTRY

Stage = Literal[
    "camera",  # reading and decoding a camera's frames, colour conversion, resize
    "windowing",  # cutting frames into windows (copies)
    "encode",  # the wire encoding of a window (raw or JPEG)
    "produce",  # handing a message to the transport's producer
    "fetch",  # a worker's poll of the frames topic
    "decode",  # a worker decoding and checking a window
    "preprocess",  # the model's input: normalisation and the motion channel (optical flow)
    "model",  # the network's forward pass and the scores from its error maps
    "heatmap",  # the thumbnail of an alerting window's error map
    "state",  # per-camera state: the store's transaction and the decision code
    "publish",  # scores and alerts to their topics, the flush, the commit
]
STAGES: tuple[str, ...] = get_args(Stage)

STAGE_CPU = Counter(
    "streamproc_stage_cpu_seconds_total",
    "CPU seconds spent by this process's threads in each pipeline stage (thread CPU time).",
    ["stage"],
    registry=REGISTRY,
)


@contextmanager
def stage(name: Stage) -> Iterator[None]:
    t0 = time.thread_time()
    try:
        yield
    finally:
        STAGE_CPU.labels(stage=name).inc(time.thread_time() - t0)


def stage_totals() -> dict[str, float]:
    """CPU seconds per stage so far in this process (0 for a stage not yet run)."""
    return {
        s: REGISTRY.get_sample_value("streamproc_stage_cpu_seconds_total", {"stage": s}) or 0.0
        for s in STAGES
    }
