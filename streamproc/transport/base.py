"""The transport boundary: one protocol for moving keyed byte messages between stages.

Implementations: ``memory`` (in-process broker, the embedded default) and ``kafka``
(kafka-python against a real broker). Both give the same guarantees the stream worker
relies on: per-key ordering within a partition, consumer groups whose members share
partitions, and offsets committed explicitly after results are published
(at-least-once delivery).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 1
    replication: int = 1
    retention_ms: int | None = None  # None = broker default
    min_insync_replicas: int | None = None  # None = broker default


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = field(default=())


OnDelivery = Callable[[BaseException | None], None]


class Producer(Protocol):
    def send(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        on_delivery: OnDelivery | None = None,
    ) -> None:
        """Queue a message; delivery is confirmed by ``flush``. ``on_delivery`` is called
        once the broker acknowledged the message (None) or it failed for good (the
        error), from whichever thread learns it."""

    def flush(self, timeout_s: float | None = None) -> None:
        """Block until every queued message is acknowledged (acks=all); raise on failure."""

    def close(self) -> None: ...


class Consumer(Protocol):
    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Next records from the partitions this member owns (may be empty)."""

    def commit(self, offsets: Mapping[tuple[str, int], int] | None = None) -> None:
        """Commit ``offsets`` ((topic, partition) -> next offset to read), or, without
        them, everything returned by ``poll`` so far. Partitions this member no longer
        owns are left to their new owner."""

    def assignment(self) -> set[tuple[str, int]]:
        """(topic, partition) pairs this member currently owns."""

    def lag(self) -> dict[tuple[str, int], int]:
        """Messages behind the end of each owned partition (for metrics)."""

    def committed_lag(self) -> dict[tuple[str, int], int]:
        """Messages after the group's committed offset of each owned partition: what
        Kafka's own tools (kafka-consumer-groups.sh) show as LAG. A partition the group
        never committed is left out."""

    def close(self) -> None: ...


class Transport(Protocol):
    """Factory for producers and consumers on one cluster (or one in-process broker)."""

    def ensure_topics(self, specs: list[TopicSpec]) -> None:
        """Create missing topics; existing ones are left as they are."""

    def producer(self) -> Producer: ...

    def consumer(self, topics: list[str], group: str, client_id: str | None = None) -> Consumer: ...

    def close(self) -> None: ...
