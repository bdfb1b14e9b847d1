"""The transport contract: the memory and Kafka peers must behave the same.

Every test runs against both backends; the Kafka case is marked ``kafka`` and runs
against the real broker from ``scripts/services.sh``. Topic and group names are unique
per test, since other test sessions share that broker.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from streamproc.config.transport import KafkaTransportConfig, MemoryTransportConfig
from streamproc.transport import Consumer, Record, TopicSpec, Transport, make_transport
from streamproc.transport.errors import TransportError
from streamproc.transport.memory import partition_for
from streamproc.transport.wire import WireWindow, decode_window, encode_window

PARTITIONS = 4


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def transport(request: pytest.FixtureRequest) -> Iterator[Transport]:
    if request.param == "memory":
        tr = make_transport(MemoryTransportConfig())
    else:
        tr = make_transport(
            KafkaTransportConfig(
                bootstrap_servers=request.getfixturevalue("kafka_bootstrap"),
                connect_timeout_s=10,
                max_block_ms=1_500,
                session_timeout_ms=6_000,
                heartbeat_interval_ms=300,  # members notice a rebalance within ~0.3 s
            )
        )
    yield tr
    tr.close()


def unique(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:10]}"


def new_topic(tr: Transport, partitions: int = PARTITIONS) -> str:
    name = unique("contract")
    tr.ensure_topics([TopicSpec(name, partitions)])
    return name


def poll_until(
    consumers: list[Consumer],
    done: Callable[[list[list[Record]]], bool],
    commit: bool = True,
    timeout_s: float = 20.0,
) -> list[list[Record]]:
    """Poll every consumer (committing if asked) until ``done(records per consumer)``."""
    got: list[list[Record]] = [[] for _ in consumers]
    deadline = time.monotonic() + timeout_s
    while not done(got):
        assert time.monotonic() < deadline, f"timed out; got {[len(g) for g in got]} records"
        for c, out in zip(consumers, got, strict=True):
            out.extend(c.poll(max_records=100, timeout_s=0.1))
            if commit:
                c.commit()
    return got


def drain(consumer: Consumer, n: int, commit: bool = True) -> list[Record]:
    return poll_until([consumer], lambda got: len(got[0]) >= n, commit)[0]


def split_evenly(consumers: list[Consumer], topic: str) -> Callable[[list[list[Record]]], bool]:
    """Done once the members own disjoint, non-empty partition sets covering the topic."""

    def done(_: list[list[Record]]) -> bool:
        owned = [c.assignment() for c in consumers]
        union = set().union(*owned)
        disjoint = sum(len(o) for o in owned) == len(union)
        return all(owned) and disjoint and union == {(topic, p) for p in range(PARTITIONS)}

    return done


def send_all(tr: Transport, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = tr.producer()
    for key, value in messages:
        producer.send(topic, value, key=key)
    producer.flush(10)
    producer.close()


def test_ensure_topics_is_idempotent_and_missing_topics_fail(transport: Transport) -> None:
    topic = new_topic(transport)
    transport.ensure_topics([TopicSpec(topic, PARTITIONS)])  # exists: left alone
    missing = unique("missing")
    producer = transport.producer()
    with pytest.raises(TransportError, match="ensure_topics"):
        producer.send(missing, b"x")
        producer.flush(5)
    with pytest.raises(TransportError, match="ensure_topics"):
        transport.consumer([missing], unique("g"))
    producer.close()


def test_round_trip_keeps_key_value_headers_and_partition(transport: Transport) -> None:
    topic = new_topic(transport)
    producer = transport.producer()
    before_ms = time.time() * 1000
    producer.send(topic, b"v1", key=b"cam-7", headers=[("reason", b"none"), ("n", b"1")])
    producer.send(topic, b"v2", key=b"cam-7")
    producer.flush(10)
    consumer = transport.consumer([topic], unique("g"))
    first, second = drain(consumer, 2)
    assert (first.topic, first.key, first.value, second.value) == (topic, b"cam-7", b"v1", b"v2")
    assert first.headers == (("reason", b"none"), ("n", b"1")) and second.headers == ()
    # Kafka's default partitioner hash: a camera has one partition number on both peers.
    assert first.partition == second.partition == partition_for(b"cam-7", PARTITIONS)
    assert second.offset == first.offset + 1
    assert before_ms - 60_000 < first.timestamp_ms < time.time() * 1000 + 60_000
    consumer.close()
    producer.close()


def test_order_is_kept_per_key(transport: Transport) -> None:
    topic = new_topic(transport)
    keys = [f"cam-{i}".encode() for i in range(5)]
    send_all(transport, topic, [(k, str(n).encode()) for n in range(20) for k in keys])
    consumer = transport.consumer([topic], unique("g"))
    got = drain(consumer, 100)
    for k in keys:
        mine = [r for r in got if r.key == k]
        assert [int(r.value) for r in mine] == list(range(20))
        assert len({r.partition for r in mine}) == 1
    consumer.close()


def test_group_members_split_partitions_and_see_each_message_once(transport: Transport) -> None:
    topic, group = new_topic(transport), unique("g")
    a = transport.consumer([topic], group, "a")
    b = transport.consumer([topic], group, "b")
    poll_until([a, b], split_evenly([a, b], topic))
    messages = [(f"cam-{i % 16}".encode(), str(i).encode()) for i in range(200)]
    send_all(transport, topic, messages)
    got_a, got_b = poll_until([a, b], lambda got: sum(map(len, got)) >= 200)
    assert a.poll(100, 0.3) == [] and b.poll(100, 0.3) == []  # nothing comes twice
    assert got_a and got_b
    assert {r.partition for r in got_a}.isdisjoint({r.partition for r in got_b})
    assert sorted(int(r.value) for r in got_a + got_b) == list(range(200))
    a.close()
    b.close()


def test_uncommitted_records_go_to_the_other_member_when_one_leaves(
    transport: Transport,
) -> None:
    topic, group = new_topic(transport), unique("g")
    a = transport.consumer([topic], group, "a")
    b = transport.consumer([topic], group, "b")
    poll_until([a, b], split_evenly([a, b], topic))
    send_all(transport, topic, [(f"cam-{i}".encode(), str(i).encode()) for i in range(40)])
    # a polls without committing; b commits what it gets.
    got_a, got_b = poll_until([a, b], lambda got: sum(map(len, got)) >= 40, commit=False)
    b.commit()
    assert got_a, "a should own some of the keys"
    assert sorted(int(r.value) for r in got_a + got_b) == list(range(40))
    a.close()
    # b takes over a's partitions and starts from their last commit: a's records again.
    again = poll_until(
        [b], lambda got: {int(r.value) for r in got[0]} >= {int(r.value) for r in got_a}
    )[0]
    assert {r.partition for r in again} == {r.partition for r in got_a}
    assert b.assignment() == {(topic, p) for p in range(PARTITIONS)}
    b.close()


def test_committed_progress_survives_a_restart(transport: Transport) -> None:
    topic, group = new_topic(transport, partitions=1), unique("g")
    send_all(transport, topic, [(b"k", str(i).encode()) for i in range(10)])
    first = transport.consumer([topic], group)
    got = poll_until([first], lambda got: len(got[0]) >= 1, commit=False)[0]
    first.commit()
    first.close()
    second = transport.consumer([topic], group)
    rest = drain(second, 10 - len(got))
    assert [int(r.value) for r in got + rest] == list(range(10))
    second.close()


def test_commit_of_explicit_offsets_covers_only_them(transport: Transport) -> None:
    # A worker that holds a second batch commits the first one's offsets only.
    topic, group = new_topic(transport, partitions=1), unique("g")
    send_all(transport, topic, [(b"k", str(i).encode()) for i in range(10)])
    first = transport.consumer([topic], group)
    poll_until([first], lambda got: len(got[0]) >= 6, commit=False)
    first.commit({(topic, 0): 4})  # records 0-3 done, 4.. still in hand
    first.close()
    second = transport.consumer([topic], group)
    rest = drain(second, 6)
    assert [int(r.value) for r in rest] == list(range(4, 10))
    second.close()


def test_lag_counts_records_behind_the_end(transport: Transport) -> None:
    topic = new_topic(transport, partitions=1)
    send_all(transport, topic, [(b"k", b"x")] * 5)
    consumer = transport.consumer([topic], unique("g"))
    got = poll_until([consumer], lambda got: len(got[0]) >= 1)[0]
    assert consumer.lag() == {(topic, 0): 5 - len(got)}
    drain(consumer, 5 - len(got))
    assert consumer.lag() == {(topic, 0): 0}
    consumer.close()


def test_committed_lag_is_kafkas_lag_behind_the_committed_offset(transport: Transport) -> None:
    topic = new_topic(transport, partitions=1)
    send_all(transport, topic, [(b"k", b"x")] * 5)
    consumer = transport.consumer([topic], unique("g"))
    got = drain(consumer, 5, commit=False)
    assert len(got) == 5 and consumer.committed_lag() == {}  # never committed: none
    consumer.commit({(topic, 0): 3})  # three applied, two held (as a worker's pins do)
    assert consumer.lag() == {(topic, 0): 0}  # the position is at the end...
    assert consumer.committed_lag() == {(topic, 0): 2}  # ...the group's commit is not
    consumer.commit()
    assert consumer.committed_lag() == {(topic, 0): 0}
    consumer.close()


def test_a_900_kb_window_fits_the_default_limit_and_2_mb_does_not(transport: Transport) -> None:
    topic = new_topic(transport, partitions=1)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (9, 240, 416), np.uint8)  # noise: incompressible
    window = WireWindow("cam-1", 8, frames[1:], tuple(float(t) for t in range(8)), frames[0])
    data = encode_window(window)
    assert 850_000 < len(data) < 1_000_000
    producer = transport.producer()
    producer.send(topic, data, key=b"cam-1")
    producer.flush(10)
    with pytest.raises(TransportError, match="max_request_size"):
        producer.send(topic, bytes(2_000_000), key=b"cam-1")
        producer.flush(10)
    consumer = transport.consumer([topic], unique("g"))
    (record,) = drain(consumer, 1)
    back = decode_window(record.value)
    assert back.camera == "cam-1" and np.array_equal(back.all_frames(), frames)
    consumer.close()
    producer.close()


def test_a_poll_waits_for_a_record_sent_during_it(transport: Transport) -> None:
    """A poll blocks until a record arrives or its timeout passes (the worker's idle loop
    relies on it instead of spinning). Decided by what the polls return, not by a clock:
    a poll that did not wait returns [] before the record is sent."""
    topic = new_topic(transport, partitions=1)
    consumer = transport.consumer([topic], unique("g"))
    poll_until([consumer], lambda _: bool(consumer.assignment()))
    assert consumer.poll(max_records=10, timeout_s=0.3) == []  # nothing sent: empty
    got: list[Record] = []
    waiting = threading.Thread(target=lambda: got.extend(consumer.poll(10, timeout_s=120)))
    waiting.start()
    # Sent while the poll most likely waits; on a machine too slow to have started it by
    # then, the poll finds the record at once and the test still holds.
    time.sleep(0.5)
    producer = transport.producer()
    producer.send(topic, b"late", key=b"k")
    producer.flush(10)
    waiting.join(150)
    assert not waiting.is_alive(), "the poll did not return when the record arrived"
    assert [r.value for r in got] == [b"late"]
    producer.close()
    consumer.close()


def test_closed_clients_raise(transport: Transport) -> None:
    topic = new_topic(transport, partitions=1)
    producer = transport.producer()
    producer.close()
    with pytest.raises(TransportError, match="closed"):
        producer.send(topic, b"x")
    consumer = transport.consumer([topic], unique("g"))
    consumer.close()
    consumer.close()  # idempotent
    with pytest.raises(TransportError, match="closed"):
        consumer.poll(max_records=1, timeout_s=0)
