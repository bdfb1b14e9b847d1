"""The embedded broker beyond the shared contract: hashing, rebalancing, retention,
blocking polls and thread safety. The behaviour both peers share is in
``test_transport_contract.py``."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2
from pydantic import TypeAdapter, ValidationError

from streamproc.config.transport import MemoryTransportConfig, TopicsConfig, TransportConfig
from streamproc.metrics import REGISTRY
from streamproc.transport import TopicSpec, make_transport, topic_specs
from streamproc.transport.errors import TransportError
from streamproc.transport.memory import MemoryTransport, murmur2, partition_for


def broker(topic: str = "t", partitions: int = 4, **cfg: int | None) -> MemoryTransport:
    tr = MemoryTransport(MemoryTransportConfig(**cfg))
    tr.ensure_topics([TopicSpec(topic, partitions)])
    return tr


def key_on(partition: int, partitions: int) -> bytes:
    """A camera key that hashes to ``partition``."""
    return next(
        k for i in range(1000) if partition_for(k := f"cam-{i}".encode(), partitions) == partition
    )


@pytest.mark.parametrize("key", [b"", b"a", b"ab", b"abc", b"cam-0001", bytes(range(256))])
def test_murmur2_matches_kafka_python(key: bytes) -> None:
    assert murmur2(key) == kafka_murmur2(key)
    assert partition_for(key, 12) == (kafka_murmur2(key) & 0x7FFFFFFF) % 12


def test_keyless_messages_go_round_robin() -> None:
    tr = broker()
    p = tr.producer()
    for i in range(8):
        p.send("t", str(i).encode())
    c = tr.consumer(["t"], "g")
    got = c.poll(max_records=100, timeout_s=0)
    assert sorted(r.partition for r in got) == [0, 0, 1, 1, 2, 2, 3, 3]


def test_range_assignment_follows_joins_and_leaves() -> None:
    tr = broker(partitions=12)
    a, b, c = (tr.consumer(["t"], "g", name) for name in "abc")
    assert [sorted(p for _, p in m.assignment()) for m in (a, b, c)] == [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
    ]
    b.close()
    assert sorted(p for _, p in a.assignment()) == list(range(6))
    assert sorted(p for _, p in c.assignment()) == list(range(6, 12))
    other = tr.consumer(["t"], "other-group")  # groups are independent
    assert len(other.assignment()) == 12


def test_a_member_keeps_its_position_on_partitions_it_keeps() -> None:
    tr = broker(partitions=2)
    p = tr.producer()
    for key in (key_on(0, 2), key_on(1, 2)) * 3:
        p.send("t", b"x", key=key)
    a = tr.consumer(["t"], "g", "a")
    assert len(a.poll(max_records=100, timeout_s=0)) == 6
    b = tr.consumer(["t"], "g", "b")  # a keeps partition 0, uncommitted
    assert a.assignment() == {("t", 0)}
    assert a.poll(max_records=100, timeout_s=0) == []
    again = b.poll(max_records=100, timeout_s=0)  # partition 1 was never committed
    assert {r.partition for r in again} == {1} and len(again) == 3


def test_commit_skips_partitions_that_moved_away() -> None:
    tr = broker(partitions=2)
    p = tr.producer()
    for key in (key_on(0, 2), key_on(1, 2)) * 2:
        p.send("t", b"x", key=key)
    a = tr.consumer(["t"], "g", "a")
    a.poll(max_records=100, timeout_s=0)
    b = tr.consumer(["t"], "g", "b")
    a.commit()  # only partition 0 is still a's
    a.close()
    b.close()
    fresh = tr.consumer(["t"], "g")
    assert {r.partition for r in fresh.poll(max_records=100, timeout_s=0)} == {1}


def test_retention_drops_the_oldest_and_a_slow_reader_skips_ahead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tr = broker(partitions=1, max_messages_per_partition=3)
    p = tr.producer()
    c = tr.consumer(["t"], "g")
    for i in range(5):
        p.send("t", str(i).encode())
    dropped = REGISTRY.get_sample_value("streamproc_transport_dropped_total", {"topic": "t"})
    with caplog.at_level(logging.WARNING, logger="streamproc.transport.memory"):
        got = c.poll(max_records=100, timeout_s=0)
    assert [(r.offset, r.value) for r in got] == [(2, b"2"), (3, b"3"), (4, b"4")]
    assert "2 records fell off retention" in caplog.text
    after = REGISTRY.get_sample_value("streamproc_transport_dropped_total", {"topic": "t"})
    assert after == (dropped or 0) + 2  # counted, not only logged


def test_a_send_reports_its_delivery() -> None:
    tr = broker(partitions=1)
    seen: list[BaseException | None] = []
    tr.producer().send("t", b"x", on_delivery=seen.append)
    assert seen == [None]


def test_oversized_messages_are_refused_unless_the_limit_is_lifted() -> None:
    with pytest.raises(TransportError, match="exceeds max_message_bytes"):
        broker(max_message_bytes=2_048).producer().send("t", bytes(2_049))
    broker(max_message_bytes=None).producer().send("t", bytes(5_000_000))


def test_a_blocked_poll_wakes_when_a_message_arrives() -> None:
    tr = broker(partitions=1)
    c = tr.consumer(["t"], "g")
    timer = threading.Timer(0.1, lambda: tr.producer().send("t", b"late"))
    timer.start()
    start = time.monotonic()
    got = c.poll(max_records=10, timeout_s=5)
    assert [r.value for r in got] == [b"late"]
    assert time.monotonic() - start < 2
    timer.join()


def test_closing_the_transport_wakes_and_fails_a_blocked_poll() -> None:
    tr = broker(partitions=1)
    c = tr.consumer(["t"], "g")
    timer = threading.Timer(0.1, tr.close)
    timer.start()
    with pytest.raises(TransportError, match="transport is closed"):
        c.poll(max_records=10, timeout_s=5)
    timer.join()
    with pytest.raises(TransportError, match="closed"):
        tr.producer()
    c.close()  # still fine after the transport is gone


def test_timestamps_come_from_the_injected_clock() -> None:
    tr = MemoryTransport(clock=lambda: 1_700_000_000.25)
    tr.ensure_topics([TopicSpec("t")])
    tr.producer().send("t", b"x")
    (record,) = tr.consumer(["t"], "g").poll(max_records=1, timeout_s=0)
    assert record.timestamp_ms == 1_700_000_000_250


def test_concurrent_producers_and_a_group_lose_nothing() -> None:
    tr = broker(partitions=4, max_messages_per_partition=None)
    members = [tr.consumer(["t"], "g", f"m{i}") for i in range(2)]

    def produce(worker: int) -> None:
        p = tr.producer()
        for i in range(200):
            p.send("t", f"{worker}:{i}".encode(), key=f"cam-{worker}".encode())

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    seen: list[bytes] = []
    deadline = time.monotonic() + 10
    while len(seen) < 800 and time.monotonic() < deadline:
        for m in members:
            seen.extend(r.value for r in m.poll(max_records=50, timeout_s=0.01))
            m.commit()
    for t in threads:
        t.join()
    assert sorted(seen) == sorted(f"{w}:{i}".encode() for w in range(4) for i in range(200))
    for w in range(4):  # per-key order survives concurrency
        mine = [int(v.split(b":")[1]) for v in seen if v.startswith(f"{w}:".encode())]
        assert mine == list(range(200))


def test_config_picks_the_backend_and_sizes_the_topics() -> None:
    adapter: TypeAdapter[TransportConfig] = TypeAdapter(TransportConfig)
    cfg = adapter.validate_python({"type": "memory", "partitions": 3})
    assert isinstance(make_transport(cfg), MemoryTransport)
    specs = topic_specs(cfg, TopicsConfig())
    assert [(s.name, s.partitions) for s in specs] == [
        ("streamproc.frames", 3),
        ("streamproc.alerts", 3),
        ("streamproc.dead-letter", 3),
    ]
    with_scores = topic_specs(cfg, TopicsConfig(publish_scores=True))
    assert "streamproc.scores" in [s.name for s in with_scores]
    with pytest.raises(ValidationError, match="'memory', 'kafka'"):
        adapter.validate_python({"type": "rabbitmq"})
    with pytest.raises(ValidationError, match="max_messages"):
        adapter.validate_python({"type": "memory", "max_messages": 3})
    with pytest.raises(ValidationError, match="frames"):
        TopicsConfig(frames="bad topic name!")
