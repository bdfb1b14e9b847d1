"""The chaos scenarios. Each gets a fresh run (topics, key prefix, group) over the same
synthetic cameras, injects its fault mid-run, and is judged by the one oracle. The worker
scores in-process, except in the model-service scenarios (``serve-replica-*``: a local
Ray and Serve's HTTP ingress, ``chaos/serve.py``); ``overload`` lives in its own module."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from streamproc.evaluation.chaos.faults import kill_service, start_services
from streamproc.evaluation.chaos.harness import Run
from streamproc.evaluation.chaos.inputs import tiny_artifact
from streamproc.evaluation.chaos.oracle import (
    FINISH_S,
    Result,
    finish,
    latency_between,
    longest_pause,
)
from streamproc.evaluation.chaos.overload import overload
from streamproc.evaluation.chaos.poison import fuzz_decode, poison_records
from streamproc.evaluation.chaos.serve import ModelService
from streamproc.model.artifact import load_artifact
from streamproc.runtime.killpoint import ENV, KILL_POINTS
from streamproc.windowing.windows import window_starts


@dataclass(frozen=True)
class Options:
    repeats: int  # worker kills per kill scenario (the full run: 3)
    fuzz_decode: int  # mutations straight to decode_message
    fuzz_kafka: int  # rejected mutations sent through Kafka
    churn_s: float = 4.0  # rebalance churn: one worker stopped and started this often
    churn_fps: float = 2.0  # the cameras' pace meanwhile (120 frames: 60 s)
    serve_fps: float = 2.0  # the cameras' pace in the model-service scenarios
    serve_timeout_s: float = 5.0  # serving.request_timeout_s there
    hang_s: float = 20.0  # how long the hung replica blocks (past the timeout)
    overload_s: float = 600.0  # how long the cameras run at twice the worker's rate


def kill_at(point: str) -> Callable[[Run, Options], Result]:
    def scenario(run: Run, opt: Options) -> Result:
        res = Result(f"kill-at-{point}")
        run.ingest()
        n = 15  # batches of 2 windows: about a sixth of a camera's windows per worker
        recover = []  # (when the kill was seen, the group's committed total then)
        for k in range(opt.repeats):  # each worker is killed; the next one takes over
            p = run.start_worker({ENV: f"{point}:{n}"})
            rc = run.wait_exit(p, FINISH_S)
            fault_at = time.monotonic()
            if rc != -signal.SIGKILL:
                res.notes.append(f"FAIL worker {k + 1} was not killed at {point}:{n} (rc {rc})")
                run.stop_worker(p)
                break
            time.sleep(0.6)  # the watcher's last sample may predate the kill by 0.25 s
            recover.append((fault_at, run.committed_now()))
        run.start_worker()
        res = finish(run, res)
        times = [run.recovery_s(t, b) for t, b in recover]
        res.recover_s = max((t for t in times if t is not None), default=None)
        res.notes.append(f"{len(recover)} kill(s)")
        return res

    return scenario


def service_restart(
    scenario: str, service: str, sig: int, down_s: float
) -> Callable[[Run, Options], Result]:
    """``service`` (redis or kafka) killed with ``sig`` a third of the way through the
    frames, started again ``down_s`` later; recovery is timed to the first commit once
    it is back (not a batch already past it when it failed)."""

    def run_it(run: Run, opt: Options) -> Result:
        return _outage(run, Result(scenario), (service,), sig, down_s)

    return run_it


def _outage(run: Run, res: Result, services: tuple[str, ...], sig: int, down_s: float) -> Result:
    """Cameras in, a worker on; ``services`` killed with ``sig`` a third of the way
    through, started again ``down_s`` later; judged, with the recovery timed to the first
    commit once they are back (not a batch already past it when they failed)."""
    run.ingest()
    run.start_worker()
    run.wait_scored(run.total_frames // 3, FINISH_S)
    fault_at = time.monotonic()
    for service in services:
        kill_service(service, sig)
    time.sleep(down_s)
    start_services()
    back_at, before = time.monotonic(), run.committed_now()
    res.notes.append(f"{'+'.join(services)} back after {back_at - fault_at:.1f} s")
    res = finish(run, res)
    res.recover_s = run.recovery_s(fault_at, before, back_at)
    return res


# The workers' client deadlines in the long-outage scenarios, far below the outage: the
# broker's connect timeout and delivery timeout, redis's retry deadline and the worker's
# retry budget all run out while it lasts, as they do in a real outage of minutes.
OUTAGE_TRANSPORT = {
    "connect_timeout_s": 3.0,
    "request_timeout_ms": 5_000,
    "delivery_timeout_ms": 6_000,
}
OUTAGE_STATE = {"retry_deadline_s": 2.0}
OUTAGE_WORKER = {"max_attempts": 2, "retry_deadline_s": 5.0}


def long_outage(
    scenario: str, services: tuple[str, ...], down_s: float
) -> Callable[[Run, Options], Result]:
    """``services`` SIGKILLed a third of the way through the frames and started again
    ``down_s`` later, with the workers' client deadlines (``OUTAGE_*``) far shorter than
    that: the worker must ride it out, with nothing dead-lettered, lost or decided twice,
    and its producer must have survived failed reconnects (at 9d4b37c it kept a closed
    client and never resumed)."""

    def run_it(run: Run, opt: Options) -> Result:
        run.set_clients(OUTAGE_TRANSPORT, OUTAGE_STATE, OUTAGE_WORKER)
        res = _outage(run, Result(scenario), services, signal.SIGKILL, down_s)
        reconnects = run.worker_log_count("cannot connect to bootstrap servers")
        unavailable = run.worker_log_count("StateUnavailableError")
        res.notes.append(
            f"{reconnects} failed broker reconnect(s), {unavailable} redis-unavailable "
            "failure(s) in the worker log"
        )
        if run.worker_log_count("already closed"):
            res.notes.append("FAIL the worker used a closed Kafka client")
        if sum(res.dead_lettered.values()):
            res.notes.append("FAIL an outage dead-lettered windows")
        return res

    return run_it


def poison(run: Run, opt: Options) -> Result:
    res = Result("poison")
    bad = poison_records(run.art.config.data.window.length)
    records = list(bad.values())
    run.send_raw(records)
    run.ingest()
    run.send_raw(records[::-1])  # each again, after the healthy windows
    run.start_worker()
    return finish(run, res, records + records[::-1])


def fuzz(run: Run, opt: Options) -> Result:
    res = Result("fuzz")
    outcome, rejected = fuzz_decode(opt.fuzz_decode, run.art.config.data.window.length)
    other = {k: v for k, v in outcome.items() if k not in ("decoded", "WireError")}
    res.notes.append(f"decode_message x{opt.fuzz_decode}: {dict(outcome)}")
    if other:
        res.notes.append(f"FAIL decode_message raised more than WireError: {other}")
    sent = list(dict.fromkeys(rejected))[: opt.fuzz_kafka]
    run.start_worker()
    half = len(sent) // 2
    run.send_raw(sent[:half])
    run.ingest()
    run.send_raw(sent[half:])
    return finish(run, res, sent)


def churn(run: Run, opt: Options) -> Result:
    res = Result("rebalance-churn")
    workers = [run.start_worker() for _ in range(3)]
    started = 3
    run.wait_ready(started, 120)
    run.ingest(fps=opt.churn_fps)  # paced: the stream lasts while the workers churn
    stops = 0
    # A worker takes seconds to start on a small machine: each replacement is given
    # until it joined the group, then the next one is stopped ``churn_s`` later.
    while run.scored() < run.total_frames and stops < 60:
        time.sleep(opt.churn_s)
        i = stops % len(workers)
        run.stop_worker(workers[i])
        workers[i] = run.start_worker()
        started, stops = started + 1, stops + 1
        if not run.wait_ready(started, 120):
            res.notes.append(f"FAIL worker {started} did not join its group in 120 s")
            break
    res.notes.append(f"{stops} stop/start(s), {opt.churn_s:.0f} s apart")
    return finish(run, res)


def serve_replica_kill(run: Run, opt: Options) -> Result:
    """The only Serve replica SIGKILLed a third of the way through paced cameras; workers
    in mode http retry until Serve has started a new one. Recovery: the end of the
    longest pause in scoring after the kill."""
    res = Result("serve-replica-kill")
    with ModelService(run, opt.serve_timeout_s) as svc:
        run.start_worker()
        run.wait_ready(1, 120)
        run.ingest(fps=opt.serve_fps)
        run.wait_scored(run.total_frames // 3, FINISH_S)
        fault_at = time.monotonic()
        pid = svc.kill_replica()
        replaced = svc.wait_replaced(pid, 120)
        if replaced is None:
            res.notes.append("FAIL Serve started no new replica in 120 s")
        else:
            res.notes.append(f"replica {pid} SIGKILLed; a new one after {replaced:.1f} s")
        res = finish(run, res)
        start, pause = longest_pause(run, fault_at)
        res.recover_s = start + pause - fault_at
        # The frames scored from the kill to a timeout after recovery: the backlog caught up.
        _fault_latency(run, res, fault_at, fault_at + res.recover_s + opt.serve_timeout_s)
    return res


def serve_replica_hang(run: Run, opt: Options) -> Result:
    """The replica blocks ``hang_s`` at its Nth HTTP request (a third of the way through),
    past ``request_timeout_s``: workers time out, cancel, retry. Recovery: the longest
    pause in scoring (the hang is not seen from outside, so it starts at the last score
    before it)."""
    res = Result("serve-replica-hang")
    w = run.art.config.data.window
    windows = sum(len(window_starts(n, w.length, w.stride)) for n in run.frames.values())
    nth = max(2, windows // 3 // run.cfg.worker.max_poll_records)
    with ModelService(run, opt.serve_timeout_s, hang=f"{nth}:{opt.hang_s:g}"):
        t0 = time.monotonic()
        run.start_worker()
        run.wait_ready(1, 120)
        run.ingest(fps=opt.serve_fps)
        res = finish(run, res)
        start, pause = longest_pause(run, t0)
        res.recover_s = pause
        res.notes.append(
            f"hang {opt.hang_s:g} s at request {nth}, request_timeout_s {opt.serve_timeout_s:g}; "
            f"{run.worker_log_count('ScoringUnavailableError')} timed-out/failed call(s) in "
            "the worker log"
        )
        _fault_latency(run, res, start, start + pause + opt.serve_timeout_s)
    return res


def model_swap(run: Run, opt: Options) -> Result:
    """A second model promoted (a hot swap of the replicas) a third of the way through
    paced cameras. Nothing may be lost; every frame is scored by one of the two versions,
    each camera switching once, from the old to the new; the alerts equal one pass over
    the published scores in which a version change ends nothing (no incident ended by
    the swap)."""
    res = Result("model-swap")
    second = tiny_artifact(run.dir, run.log, seed=1)
    old, new = run.art.version, load_artifact(second).version
    if old == new:
        res.notes.append("FAIL the second model has the first one's version")
        return res
    with ModelService(run, opt.serve_timeout_s) as svc:
        run.start_worker()
        run.wait_ready(1, 120)
        run.ingest(fps=opt.serve_fps)
        run.wait_scored(run.total_frames // 3, FINISH_S)
        fault_at = time.monotonic()
        live = svc.swap(second)
        res.notes.append(f"promoted {new} over {old} in {time.monotonic() - fault_at:.1f} s")
        if live != new:
            res.notes.append(f"FAIL the replicas report {live} after the swap, not {new}")
        res = finish(run, res)
        res.notes += _versions_in_order(run, old, new)
        start, pause = longest_pause(run, fault_at)
        res.recover_s = start + pause - fault_at
    return res


def _versions_in_order(run: Run, old: str, new: str) -> list[str]:
    """FAIL notes unless each camera's frames were scored by ``old`` up to a point and by
    ``new`` after it, and the new version scored some frames at all."""
    notes, switched = [], 0
    for cam, n in run.frames.items():
        versions = [run.seen.scores[(cam, i)]["model_version"] for i in range(n)
                    if (cam, i) in run.seen.scores]  # fmt: skip
        if set(versions) - {old, new}:
            notes.append(f"FAIL {cam}: scored by {set(versions) - {old, new}}")
        flips = sum(a != b for a, b in pairwise(versions))
        if flips > 1 or (versions and versions[0] == new and old in versions):
            notes.append(f"FAIL {cam}: versions go back and forth ({flips} changes)")
        switched += new in versions
    if not switched:
        notes.append("FAIL no frame was scored by the promoted version")
    notes.append(f"{switched} of {len(run.frames)} camera(s) scored by the new version")
    return notes


def _fault_latency(run: Run, res: Result, t0: float, t1: float) -> None:
    lat = latency_between(run, t0, t1)
    if lat is not None:
        res.latency_p50_s, res.latency_max_s = lat


SCENARIOS: dict[str, Callable[[Run, Options], Result]] = {
    **{f"kill-at-{p}": kill_at(p) for p in KILL_POINTS},
    "redis-sigterm": service_restart("redis-SIGTERM", "redis", signal.SIGTERM, 2),
    "redis-sigkill": service_restart("redis-SIGKILL", "redis", signal.SIGKILL, 2),
    "kafka-down": service_restart("kafka-down-20s", "kafka", signal.SIGKILL, 20),
    "kafka-down-long": long_outage("kafka-down-12s-long", ("kafka",), 12),
    "redis-down-long": long_outage("redis-down-12s-long", ("redis",), 12),
    "kafka-down-120s": long_outage("kafka-down-120s", ("kafka",), 120),
    "redis-down-120s": long_outage("redis-down-120s", ("redis",), 120),
    "both-down-120s": long_outage("kafka+redis-down-120s", ("kafka", "redis"), 120),
    "serve-replica-kill": serve_replica_kill,
    "serve-replica-hang": serve_replica_hang,
    "model-swap": model_swap,
    "overload": overload,
    "poison": poison,
    "fuzz": fuzz,
    "churn": churn,
}
# Run only by the full suite (or when named): minutes each.
FULL_ONLY = frozenset({"kafka-down-120s", "redis-down-120s", "both-down-120s"})
