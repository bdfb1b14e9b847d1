"""The chaos scenarios. Each gets a fresh run (topics, key prefix, group) over the same
synthetic cameras, injects its fault mid-run, and is judged by the one oracle."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from streamproc.evaluation.chaos.faults import kill_service, start_services
from streamproc.evaluation.chaos.harness import Run
from streamproc.evaluation.chaos.oracle import Result, judge
from streamproc.evaluation.chaos.poison import fuzz_decode, poison_records
from streamproc.runtime.killpoint import ENV, KILL_POINTS

FINISH_S = 240.0  # longest wait for every frame after the fault


@dataclass(frozen=True)
class Options:
    repeats: int  # worker kills per kill scenario (the full run: 3)
    fuzz_decode: int  # mutations straight to decode_window
    fuzz_kafka: int  # rejected mutations sent through Kafka
    churn_s: float = 4.0  # rebalance churn: one worker stopped and started this often
    churn_fps: float = 2.0  # the cameras' pace meanwhile (120 frames: 60 s)


def _finish(run: Run, res: Result, injected: list[bytes] | None = None) -> Result:
    if not run.wait_scored(run.total_frames, FINISH_S):
        res.notes.append(f"FAIL only {run.scored()} of {run.total_frames} frames in {FINISH_S} s")
    run.settle()
    return judge(run, res, injected)


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
        res = _finish(run, res)
        times = [run.recovery_s(t, b) for t, b in recover]
        res.recover_s = max((t for t in times if t is not None), default=None)
        res.notes.append(f"{len(recover)} kill(s)")
        return res

    return scenario


def redis_restart(sig: int) -> Callable[[Run, Options], Result]:
    def scenario(run: Run, opt: Options) -> Result:
        res = Result(f"redis-{signal.Signals(sig).name}")
        run.ingest()
        run.start_worker()
        run.wait_scored(run.total_frames // 3, FINISH_S)
        fault_at = time.monotonic()
        kill_service("redis", sig)
        time.sleep(2)
        start_services()
        back_at, before = time.monotonic(), run.committed_now()
        res.notes.append(f"redis back after {back_at - fault_at:.1f} s")
        res = _finish(run, res)
        res.recover_s = run.recovery_s(fault_at, before, back_at)
        return res

    return scenario


def kafka_outage(run: Run, opt: Options) -> Result:
    res = Result("kafka-down-20s")
    run.ingest()
    run.start_worker()
    run.wait_scored(run.total_frames // 3, FINISH_S)
    fault_at = time.monotonic()
    kill_service("kafka", signal.SIGKILL)
    time.sleep(20)
    start_services()
    back_at, before = time.monotonic(), run.committed_now()
    res.notes.append(f"broker back after {back_at - fault_at:.1f} s")
    res = _finish(run, res)
    res.recover_s = run.recovery_s(fault_at, before, back_at)
    return res


def poison(run: Run, opt: Options) -> Result:
    res = Result("poison")
    bad = poison_records(run.art.config.data.window.length)
    records = list(bad.values())
    run.send_raw(records)
    run.ingest()
    run.send_raw(records[::-1])  # each again, after the healthy windows
    run.start_worker()
    return _finish(run, res, records + records[::-1])


def fuzz(run: Run, opt: Options) -> Result:
    res = Result("fuzz")
    outcome, rejected = fuzz_decode(opt.fuzz_decode, run.art.config.data.window.length)
    other = {k: v for k, v in outcome.items() if k not in ("decoded", "WireError")}
    res.notes.append(f"decode_window x{opt.fuzz_decode}: {dict(outcome)}")
    if other:
        res.notes.append(f"FAIL decode_window raised more than WireError: {other}")
    sent = list(dict.fromkeys(rejected))[: opt.fuzz_kafka]
    run.start_worker()
    half = len(sent) // 2
    run.send_raw(sent[:half])
    run.ingest()
    run.send_raw(sent[half:])
    return _finish(run, res, sent)


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
    return _finish(run, res)


SCENARIOS: dict[str, Callable[[Run, Options], Result]] = {
    **{f"kill-at-{p}": kill_at(p) for p in KILL_POINTS},
    "redis-sigterm": redis_restart(signal.SIGTERM),
    "redis-sigkill": redis_restart(signal.SIGKILL),
    "kafka-down": kafka_outage,
    "poison": poison,
    "fuzz": fuzz,
    "churn": churn,
}
