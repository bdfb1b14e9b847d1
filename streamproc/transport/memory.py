"""The embedded in-process broker: Kafka's delivery semantics without running Kafka.

Topics have N partitions, each an append-only log with offsets and timestamps. A keyed
message goes to ``murmur2(key) % N``, the hash of Kafka's default partitioner, so a
camera lands on the same partition number on either transport; keyless messages go
round-robin. Consumer groups split partitions with Kafka's range assignor, recomputed
whenever a member joins or leaves (a rebalance). A member reads a newly assigned
partition from the group's committed offset (or the earliest retained one) and
``commit()`` commits what ``poll`` returned, so records returned but not committed are
delivered again to whichever member owns the partition next: at-least-once, as on Kafka.

Retention is bounded by ``max_messages_per_partition``: the oldest record falls off even
if no group has committed it, and a member positioned before the new log start skips
ahead with a warning, the way a Kafka consumer with ``auto_offset_reset=earliest`` does
when retention deletes a segment under it. Live video prefers dropping old windows to
stalling the cameras.

One lock guards the whole broker; ``poll`` waits on a condition that ``send``,
rebalances and ``close`` notify. One broker lives in one process: every stage that
should talk must share the same ``MemoryTransport`` instance.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from streamproc.config.transport import MemoryTransportConfig
from streamproc.metrics import TRANSPORT_DROPPED
from streamproc.transport.base import OnDelivery, Record, TopicSpec
from streamproc.transport.errors import TransportError

log = logging.getLogger(__name__)

TP = tuple[str, int]


def murmur2(data: bytes) -> int:
    """32-bit MurmurHash2 with Kafka's seed (org.apache.kafka.common.utils.Utils.murmur2)."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (0x9747B28C ^ len(data)) & mask
    full = len(data) - len(data) % 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[full:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    return h ^ (h >> 15)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class _Log:
    records: deque[Record]  # bounded by maxlen: appending drops the oldest
    end: int = 0  # offset the next record gets

    @property
    def start(self) -> int:
        return self.end - len(self.records)


@dataclass
class _Member:
    topics: tuple[str, ...]
    assignment: set[TP] = field(default_factory=set)
    positions: dict[TP, int] = field(default_factory=dict)
    turn: int = 0  # rotates the first partition polled, so a busy one cannot starve others


@dataclass
class _Group:
    members: dict[str, _Member] = field(default_factory=dict)  # join order
    committed: dict[TP, int] = field(default_factory=dict)


class MemoryTransport:
    """Thread-safe in-process broker implementing the ``Transport`` protocol."""

    def __init__(
        self, cfg: MemoryTransportConfig | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        cfg = cfg or MemoryTransportConfig()
        self._retention = cfg.max_messages_per_partition
        self._max_bytes = cfg.max_message_bytes
        self._clock = clock
        self._cond = threading.Condition()
        self._logs: dict[str, list[_Log]] = {}
        self._groups: dict[str, _Group] = {}
        self._next_keyless: dict[str, int] = {}
        self._ids = itertools.count()
        self._closed = False

    # -- Transport protocol --------------------------------------------------------------

    def ensure_topics(self, specs: list[TopicSpec]) -> None:
        with self._cond:
            self._check_open()
            for spec in specs:
                if spec.partitions < 1:
                    raise TransportError(f"topic {spec.name!r}: partitions must be >= 1")
                if spec.name not in self._logs:
                    self._logs[spec.name] = [
                        _Log(deque(maxlen=self._retention)) for _ in range(spec.partitions)
                    ]

    def producer(self) -> MemoryProducer:
        with self._cond:
            self._check_open()
        return MemoryProducer(self)

    def consumer(
        self, topics: list[str], group: str, client_id: str | None = None
    ) -> MemoryConsumer:
        with self._cond:
            self._check_open()
            for topic in topics:
                self._partitions(topic)
            member_id = f"{client_id or 'consumer'}-{next(self._ids)}"
            g = self._groups.setdefault(group, _Group())
            g.members[member_id] = _Member(tuple(topics))
            self._rebalance(g)
        return MemoryConsumer(self, group, member_id)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- broker internals, called by MemoryProducer / MemoryConsumer ----------------------

    def _append(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        size = len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in headers)
        if self._max_bytes is not None and size > self._max_bytes:
            raise TransportError(
                f"a {size}-byte message to {topic!r} exceeds max_message_bytes "
                f"({self._max_bytes}); encode windows as jpeg or raise the limit "
                f"(on Kafka: transport.max_request_size and the broker's message.max.bytes)"
            )
        with self._cond:
            self._check_open()
            logs = self._partitions(topic)
            if key is not None:
                p = partition_for(key, len(logs))
            else:
                p = self._next_keyless.get(topic, 0) % len(logs)
                self._next_keyless[topic] = p + 1
            plog = logs[p]
            ts = int(self._clock() * 1000)
            plog.records.append(Record(topic, p, plog.end, key, value, ts, tuple(headers)))
            plog.end += 1
            self._cond.notify_all()

    def _fetch(
        self, group: str, member_id: str, max_records: int, timeout_s: float
    ) -> list[Record]:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        with self._cond:
            while True:
                self._check_open()
                out = self._take(self._member(group, member_id), max_records)
                remaining = deadline - time.monotonic()
                if out or remaining <= 0:
                    return out
                self._cond.wait(remaining)

    def _take(self, member: _Member, max_records: int) -> list[Record]:
        out: list[Record] = []
        owned = sorted(member.assignment)
        member.turn += 1
        for i in range(len(owned)):
            tp = owned[(member.turn + i) % len(owned)]
            plog = self._logs[tp[0]][tp[1]]
            pos = member.positions[tp]
            if pos < plog.start:
                TRANSPORT_DROPPED.labels(topic=tp[0]).inc(plog.start - pos)
                log.warning(
                    "%s[%d]: %d records fell off retention before this group read them; "
                    "skipping to offset %d (raise max_messages_per_partition or add workers)",
                    tp[0],
                    tp[1],
                    plog.start - pos,
                    plog.start,
                )
                pos = plog.start
            take = min(plog.end - pos, max_records - len(out))
            out.extend(plog.records[pos - plog.start + j] for j in range(take))
            member.positions[tp] = pos + take
            if len(out) >= max_records:
                break
        return out

    def _commit(self, group: str, member_id: str, offsets: dict[TP, int]) -> None:
        with self._cond:
            member = self._member(group, member_id)
            committed = self._groups[group].committed
            for tp, offset in offsets.items():
                # A partition moved to another member since poll: its new owner re-reads
                # from the last commit (at-least-once); committing here could skip its work.
                if tp in member.assignment:
                    committed[tp] = offset

    def _owned(self, group: str, member_id: str) -> set[TP]:
        with self._cond:
            return set(self._member(group, member_id).assignment)

    def _lag(self, group: str, member_id: str) -> dict[TP, int]:
        with self._cond:
            member = self._member(group, member_id)
            lags = {}
            for tp, pos in member.positions.items():
                plog = self._logs[tp[0]][tp[1]]
                lags[tp] = plog.end - max(pos, plog.start)
            return lags

    def _committed_lag(self, group: str, member_id: str) -> dict[TP, int]:
        with self._cond:
            member = self._member(group, member_id)
            committed = self._groups[group].committed
            return {
                tp: self._logs[tp[0]][tp[1]].end - committed[tp]
                for tp in member.positions
                if tp in committed
            }

    def _leave(self, group: str, member_id: str) -> None:
        with self._cond:
            g = self._groups.get(group)
            if g is not None and g.members.pop(member_id, None) is not None:
                self._rebalance(g)

    def _rebalance(self, g: _Group) -> None:
        """Kafka's range assignor: per topic, contiguous partition ranges in join order."""
        new: dict[str, set[TP]] = {mid: set() for mid in g.members}
        for topic in sorted({t for m in g.members.values() for t in m.topics}):
            subscribers = [mid for mid, m in g.members.items() if topic in m.topics]
            per, extra = divmod(len(self._logs[topic]), len(subscribers))
            first = 0
            for i, mid in enumerate(subscribers):
                count = per + (1 if i < extra else 0)
                new[mid].update((topic, p) for p in range(first, first + count))
                first += count
        for mid, member in g.members.items():
            # A partition the member keeps continues where it was; a new one starts at
            # the group's commit, so records its old owner did not commit come again.
            positions = {tp: pos for tp, pos in member.positions.items() if tp in new[mid]}
            for tp in new[mid] - positions.keys():
                positions[tp] = g.committed.get(tp, self._logs[tp[0]][tp[1]].start)
            member.assignment, member.positions = new[mid], positions
        self._cond.notify_all()

    def _partitions(self, topic: str) -> list[_Log]:
        logs = self._logs.get(topic)
        if logs is None:
            raise TransportError(
                f"topic {topic!r} does not exist; create it first with "
                f"Transport.ensure_topics (topics are never auto-created, as on Kafka)"
            )
        return logs

    def _member(self, group: str, member_id: str) -> _Member:
        g = self._groups.get(group)
        if g is None or member_id not in g.members:
            raise TransportError(f"consumer {member_id} of group {group!r} is closed")
        return g.members[member_id]

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("the in-memory transport is closed")


class MemoryProducer:
    """Appends synchronously, so ``flush`` has nothing left to wait for."""

    def __init__(self, broker: MemoryTransport) -> None:
        self._broker = broker
        self._closed = False

    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: OnDelivery | None = None,
    ) -> None:
        if self._closed:
            raise TransportError("send() on a closed producer")
        self._broker._append(topic, bytes(value), key, headers or [])
        if on_delivery is not None:
            on_delivery(None)  # appended: as delivered as this broker gets

    def flush(self, timeout_s: float | None = None) -> None:
        if self._closed:
            raise TransportError("flush() on a closed producer")

    def close(self) -> None:
        self._closed = True


class MemoryConsumer:
    """One member of a consumer group; not meant to be shared between threads."""

    def __init__(self, broker: MemoryTransport, group: str, member_id: str) -> None:
        self._broker = broker
        self._group = group
        self._member_id = member_id
        self._uncommitted: dict[TP, int] = {}  # next offset to commit, per partition
        self._closed = False

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        self._check_open()
        records = self._broker._fetch(self._group, self._member_id, max_records, timeout_s)
        for r in records:
            self._uncommitted[(r.topic, r.partition)] = r.offset + 1
        return records

    def commit(self, offsets: Mapping[TP, int] | None = None) -> None:
        self._check_open()
        if offsets is None:
            offsets, self._uncommitted = self._uncommitted, {}
        else:
            self._uncommitted = {
                tp: o for tp, o in self._uncommitted.items() if o > offsets.get(tp, -1)
            }
        if offsets:
            self._broker._commit(self._group, self._member_id, dict(offsets))

    def assignment(self) -> set[tuple[str, int]]:
        self._check_open()
        return self._broker._owned(self._group, self._member_id)

    def lag(self) -> dict[tuple[str, int], int]:
        self._check_open()
        return self._broker._lag(self._group, self._member_id)

    def committed_lag(self) -> dict[tuple[str, int], int]:
        self._check_open()
        return self._broker._committed_lag(self._group, self._member_id)

    def close(self) -> None:
        # Leaving without committing: what poll returned since the last commit goes to
        # the partition's next owner again.
        if not self._closed:
            self._closed = True
            self._broker._leave(self._group, self._member_id)

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"consumer {self._member_id} of group {self._group!r} is closed")
