"""CameraRunner: fps sampling, pacing, reconnect backoff, states and backpressure.

Time is a fake clock whose ``sleep`` advances it, so pacing and backoff take no real time.
Every test uses its own camera id, since the Prometheus registry is process-wide.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from streamproc.config.cameras import CameraConfig, ReconnectConfig
from streamproc.errors import DataError
from streamproc.metrics import REGISTRY
from streamproc.sources.camera import CameraDisconnected, Frame
from streamproc.sources.runner import Backoff, CameraRunner, FpsSampler


class FakeTime:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep()
        self.sleeps.append(seconds)
        self.t += seconds


class ScriptedCamera:
    """Each open() takes the next session: an exception to raise, or a number of frames
    after which the stream drops (CameraDisconnected) or, in the last session, ends."""

    def __init__(
        self,
        sessions: list[int | Exception],
        ft: FakeTime,
        *,
        live: bool = True,
        fps: float = 10.0,
        shape: tuple[int, ...] = (8, 12),
        frame_dt: float = 0.0,
    ) -> None:
        self.camera_id, self.live, self.fps = "fake", live, fps
        self.sessions, self.ft, self.shape, self.frame_dt = list(sessions), ft, shape, frame_dt
        self.left: int | None = None
        self.index = 0
        self.opens = self.closes = 0

    def open(self) -> None:
        self.opens += 1
        session = self.sessions.pop(0)
        if isinstance(session, Exception):
            raise session
        self.left = session

    def read(self) -> Frame | None:
        assert self.left is not None
        if self.left == 0:
            if self.sessions:
                raise CameraDisconnected("fake stream dropped")
            return None
        self.left -= 1
        self.ft.t += self.frame_dt  # a live camera's frames arrive over time
        now = self.ft.clock()
        pts = now if self.live else self.index / self.fps
        frame = Frame(np.full(self.shape, self.index % 256, np.uint8), now, self.index, pts)
        self.index += 1
        return frame

    def close(self) -> None:
        self.closes += 1


class Sink:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def __call__(self, camera_id: str, frame: Frame) -> None:
        self.frames.append(frame)

    @property
    def indices(self) -> list[int]:
        return [f.index for f in self.frames]


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def cfg(cam_id: str, **kw: Any) -> CameraConfig:
    return CameraConfig(id=cam_id, source="synthetic", **kw)


def run(runner: CameraRunner, timeout: float = 5.0) -> None:
    runner.start()
    assert runner.join(timeout), "runner did not end"


# -- sampling and pacing -----------------------------------------------------------------


def test_sampler_keeps_every_nth_for_exact_ratios() -> None:
    s = FpsSampler(10)
    assert [i for i in range(30) if s.keep(i / 30)] == list(range(0, 30, 3))
    s = FpsSampler(5)
    assert [i for i in range(10) if s.keep(i / 10)] == [0, 2, 4, 6, 8]


def test_sampler_keeps_a_jittery_stream_at_the_target_rate() -> None:
    rng = np.random.default_rng(0)
    s = FpsSampler(10)
    pts = [i / 10 + rng.uniform(-0.02, 0.02) for i in range(100)]
    assert sum(s.keep(p) for p in pts) == 100
    assert FpsSampler(None).keep(0.0) and FpsSampler(30).keep(0.0)


def test_sampler_restarts_when_the_clock_steps_back() -> None:
    s = FpsSampler(10)
    assert s.keep(100.0) and not s.keep(100.01)
    assert s.keep(50.0)  # stepped back: a new grid, not 50 s of drops


def test_file_playback_is_paced_and_sampled() -> None:
    ft = FakeTime()
    cam = ScriptedCamera([90], ft, live=False, fps=30)
    sink = Sink()
    # Fake time runs faster than the consumer thread: a roomy queue keeps backpressure out.
    runner = CameraRunner(
        cfg("pace", fps=10), sink, camera=cam, clock=ft.clock, sleep=ft.sleep, queue_size=1000
    )
    run(runner)
    assert sink.indices == list(range(0, 90, 3))
    st = runner.status()
    assert (st.state, st.frames, st.dropped) == ("finished", 30, 60)
    assert metric("streamproc_frames_dropped_total", camera="pace", reason="fps") == 60
    assert metric("streamproc_frames_in_total", camera="pace") == 90
    # Played at the source's 30 fps: 90 frame periods up to the read that finds the end.
    assert sum(ft.sleeps) == pytest.approx(90 / 30)
    assert cam.closes == 1


def test_not_realtime_plays_as_fast_as_possible() -> None:
    ft = FakeTime()
    sink = Sink()
    runner = CameraRunner(
        cfg("fast", fps=10, realtime=False),
        sink,
        camera=ScriptedCamera([90], ft, live=False, fps=30),
        clock=ft.clock,
        sleep=ft.sleep,
    )
    run(runner)
    assert ft.sleeps == [] and len(sink.frames) == 30


def test_live_stream_sampled_by_capture_time() -> None:
    ft = FakeTime()
    cam = ScriptedCamera([60], ft, live=True, frame_dt=1 / 30)
    sink = Sink()
    runner = CameraRunner(
        cfg("live", fps=10), sink, camera=cam, clock=ft.clock, sleep=ft.sleep, queue_size=1000
    )
    run(runner)
    assert sink.indices == list(range(0, 60, 3))
    assert ft.sleeps == []  # a live source is never paced


def test_frames_converted_to_gray_and_resized() -> None:
    ft = FakeTime()
    sink = Sink()
    cam = ScriptedCamera([3], ft, shape=(40, 60, 3))
    run(CameraRunner(cfg("gray", resize=(30, 20)), sink, camera=cam, clock=ft.clock))
    assert [f.image.shape for f in sink.frames] == [(20, 30)] * 3
    sink = Sink()
    cam = ScriptedCamera([2], ft, shape=(40, 60))
    run(CameraRunner(cfg("colour", color=True), sink, camera=cam, clock=ft.clock))
    assert sink.frames[0].image.shape == (40, 60, 3)


# -- reconnects --------------------------------------------------------------------------


def test_reconnect_with_exponential_backoff() -> None:
    ft = FakeTime()
    down = CameraDisconnected("cannot open")
    cam = ScriptedCamera([down, down, 5, down, 3], ft)
    seen: list[str] = []
    sink = Sink()
    runner = CameraRunner(
        cfg("flaky", reconnect=ReconnectConfig(initial_s=1, multiplier=2, max_s=3, jitter=0)),
        sink,
        camera=cam,
        clock=ft.clock,
        sleep=ft.sleep,
    )
    ft.on_sleep = lambda: seen.append(runner.status().state)
    assert runner.status().state == "connecting"
    run(runner)
    # 1, 2 for the failed opens; reset by the 5 frames; then 1, 2 again for drop + failed open.
    assert ft.sleeps == [1, 2, 1, 2]
    assert seen == ["reconnecting"] * 4
    st = runner.status()
    assert (st.state, st.frames, st.reconnects) == ("finished", 8, 4)
    assert st.last_error == "cannot open"
    assert metric("streamproc_camera_reconnects_total", camera="flaky") == 4
    assert metric("streamproc_camera_up", camera="flaky") == 0
    assert cam.opens == 5 and cam.closes == 5


def test_backoff_caps_jitters_and_gives_up() -> None:
    b = Backoff(ReconnectConfig(initial_s=0.5, max_s=4, multiplier=2, jitter=0), random.Random(0))
    assert [b.next_delay() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    b = Backoff(ReconnectConfig(initial_s=1, max_s=1, jitter=0.5), random.Random(0))
    delays = [b.next_delay() for _ in range(20)]
    # Jitter only shortens a step, so cameras stay spread out even at the cap.
    assert all(0.5 <= d <= 1 for d in delays) and len(set(delays)) == 20

    ft = FakeTime()
    down = CameraDisconnected("no route to host")
    reconnect = ReconnectConfig(initial_s=1, max_s=2, jitter=0, max_attempts=3)
    runner = CameraRunner(
        cfg("hopeless", reconnect=reconnect),
        Sink(),
        camera=ScriptedCamera([down] * 10, ft),
        clock=ft.clock,
        sleep=ft.sleep,
    )
    run(runner)
    st = runner.status()
    assert st.state == "failed" and st.reconnects == 3 and ft.sleeps == [1, 2, 2]
    assert st.last_error is not None and "gave up after 3" in st.last_error


def test_missing_footage_fails_without_retrying() -> None:
    ft = FakeTime()
    cam = ScriptedCamera([DataError("/x.mp4 does not exist")], ft)
    runner = CameraRunner(cfg("gone"), Sink(), camera=cam, clock=ft.clock, sleep=ft.sleep)
    run(runner)
    st = runner.status()
    assert (st.state, st.last_error, ft.sleeps) == ("failed", "/x.mp4 does not exist", [])


def test_stop_interrupts_a_long_backoff() -> None:
    ft = FakeTime()
    cam = ScriptedCamera([CameraDisconnected("down")] * 3, ft)
    # The default sleep waits on the stop event, so a 60 s backoff ends at once on stop().
    runner = CameraRunner(
        cfg("stuck", reconnect=ReconnectConfig(initial_s=60, max_s=60)),
        Sink(),
        camera=cam,
        clock=ft.clock,
    )
    runner.start()
    deadline = time.monotonic() + 2
    while runner.status().state != "reconnecting" and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    runner.stop()
    assert runner.join(2) and time.monotonic() - t0 < 1
    assert runner.status().state == "stopped"


# -- hand-off ----------------------------------------------------------------------------


def test_backpressure_drops_the_oldest_frames() -> None:
    ft = FakeTime()
    release = threading.Event()
    sink = Sink()

    def slow(camera_id: str, frame: Frame) -> None:
        release.wait(5)
        sink(camera_id, frame)

    runner = CameraRunner(
        cfg("slow"), slow, camera=ScriptedCamera([50], ft), clock=ft.clock, queue_size=4
    )
    runner.start()
    deadline = time.monotonic() + 2
    while runner.status().dropped < 45 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    assert runner.join(5)
    st = runner.status()
    assert st.frames + st.dropped == 50 and st.frames <= 5
    assert metric("streamproc_frames_dropped_total", camera="slow", reason="backpressure") == (
        st.dropped
    )
    assert sink.indices[-4:] == [46, 47, 48, 49]  # the newest frames survive, in order


def test_benchmark_playback_waits_instead_of_dropping() -> None:
    ft = FakeTime()
    gate = threading.Event()
    sink = Sink()

    def slow(camera_id: str, frame: Frame) -> None:
        gate.wait(5)
        sink(camera_id, frame)

    runner = CameraRunner(
        cfg("bench", realtime=False),
        slow,
        camera=ScriptedCamera([30], ft, live=False),
        clock=ft.clock,
        queue_size=2,
    )
    runner.start()
    time.sleep(0.1)  # long enough for the capture thread to hit the full queue
    assert runner.status().dropped == 0
    gate.set()
    assert runner.join(5)
    assert sink.indices == list(range(30)) and runner.status().dropped == 0


def test_consumer_errors_are_counted_not_fatal() -> None:
    ft = FakeTime()
    delivered: list[int] = []

    def picky(camera_id: str, frame: Frame) -> None:
        if frame.index == 2:
            raise RuntimeError("producer buffer full")
        delivered.append(frame.index)

    runner = CameraRunner(cfg("picky"), picky, camera=ScriptedCamera([5], ft), clock=ft.clock)
    run(runner)
    st = runner.status()
    assert delivered == [0, 1, 3, 4]
    assert (st.state, st.frames, st.dropped, st.last_error) == (
        "finished",
        4,
        1,
        "producer buffer full",
    )
    assert metric("streamproc_frames_dropped_total", camera="picky", reason="error") == 1


def test_streaming_state_and_camera_up_while_frames_flow() -> None:
    ft = FakeTime()
    seen: list[tuple[str, float]] = []
    runner: CameraRunner

    def watch(camera_id: str, frame: Frame) -> None:
        seen.append((runner.status().state, metric("streamproc_camera_up", camera="up")))

    runner = CameraRunner(cfg("up"), watch, camera=ScriptedCamera([3], ft), clock=ft.clock)
    run(runner)
    assert ("streaming", 1.0) in seen
    assert runner.status().state == "finished" and metric("streamproc_camera_up", camera="up") == 0
    with pytest.raises(RuntimeError, match="already started"):
        runner.start()


def test_a_resumed_file_skips_what_was_sent_unpaced_and_samples_the_same_frames() -> None:
    ft = FakeTime()
    sink = Sink()
    runner = CameraRunner(
        cfg("skip", fps=10),
        sink,
        camera=ScriptedCamera([90], ft, live=False, fps=30),
        clock=ft.clock,
        sleep=ft.sleep,
        queue_size=1000,
        skip_before=45,
    )
    run(runner)
    # The frames an unbroken run would have kept from 45 on (every third from 0) ...
    assert sink.indices == list(range(45, 90, 3))
    # ... paced from the first of them only: 45 frame periods, not 90.
    assert sum(ft.sleeps) == pytest.approx(45 / 30)
