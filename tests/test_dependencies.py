"""Dependency outages: tracked per client, shown by /readyz and the gauge, and not
counted as a worker's stall by /healthz."""

from __future__ import annotations

import threading

from streamproc import metrics
from streamproc.dependencies import DEPENDENCIES, Dependencies
from streamproc.health import Health


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Stuck:
    holding = True

    def __init__(self, clock: Clock) -> None:
        self.clock, self.since = clock, clock.now

    def progress_age(self) -> float:
        return self.clock.now - self.since


def test_a_service_is_down_while_any_of_its_clients_last_failed() -> None:
    clock = Clock()
    deps = Dependencies(clock)
    producer, consumer = object(), object()
    deps.failed("kafka", producer, "connect: refused")
    clock.now += 5
    deps.failed("kafka", consumer, "commit: timeout")
    deps.failed("kafka", producer, "again")  # the outage still counts from the first
    clock.now += 5
    assert deps.unreachable_s("kafka") == 10 and deps.unreachable_s("redis") == 0
    deps.answered("kafka", producer)
    assert deps.unreachable() == {"kafka": "commit: timeout"}
    assert deps.reachable_for() == 0
    deps.answered("kafka", consumer)
    assert deps.unreachable() == {} and deps.unreachable_s("kafka") == 0
    clock.now += 7
    assert deps.reachable_for() == 7
    deps.failed("redis", consumer, "refused")
    deps.forget(consumer)  # closed: its last report no longer counts
    assert deps.unreachable() == {}
    assert deps.reachable_for() == 7  # nothing answered: the stall clock did not restart


def test_readiness_follows_dependencies_and_an_outage_is_no_stall() -> None:
    clock = Clock()
    deps = Dependencies(clock)
    health = Health(stall_timeout_s=60, ready=True, dependencies=deps)
    health.watch(Stuck(clock), threading.current_thread())
    store = object()
    deps.failed("redis", store, "ConnectionError: refused")
    clock.now += 600  # ten minutes of outage with records in hand
    ok, why = health.readiness()
    assert not ok and why == "redis unreachable for 600 s (ConnectionError: refused)"
    assert health.live() == (True, "ok")
    deps.answered("redis", store)
    assert health.readiness() == (True, "ok")
    clock.now += 30  # back, and not stalled yet: the clock restarted with the service
    assert health.live() == (True, "ok")
    clock.now += 31
    ok, why = health.live()
    assert not ok and "no progress for 61 s" in why


def test_the_gauge_shows_each_dependencys_outage() -> None:
    client = object()
    gauge = metrics.DEPENDENCY_UNREACHABLE
    try:
        assert gauge.labels(dependency="redis")._value.get() == 0  # type: ignore[attr-defined]
        DEPENDENCIES.failed("redis", client, "test")
        text = metrics.generate_latest(metrics.REGISTRY).decode()
        line = next(
            x
            for x in text.splitlines()
            if x.startswith('streamproc_dependency_unreachable_seconds{dependency="redis"}')
        )
        assert float(line.split()[-1]) >= 0
        assert 'streamproc_dependency_unreachable_seconds{dependency="kafka"} 0.0' in text
        assert DEPENDENCIES.unreachable() == {"redis": "test"}
    finally:
        DEPENDENCIES.forget(client)
    assert DEPENDENCIES.unreachable() == {}
