"""The Kafka peer of the transport boundary, on kafka-python.

Producers send with acks=all and idempotence, so a retried window is never written
twice; ``flush`` raises ``TransportError`` if any message since the last flush was not
delivered. Consumers never auto-commit: ``commit()`` synchronously commits the offsets
after the records ``poll`` returned, for the partitions the member still owns.
Everything returned and not committed is delivered again after a rebalance
(at-least-once). Topics are created only by ``ensure_topics``; streamproc never relies
on broker auto-creation.

kafka-python clients that fail to bootstrap leak their network thread, so an
unreachable broker is first waited for with plain TCP probes (exponential backoff up to
``connect_timeout_s``) and a client is built only once a broker answers.

Outages: a wrapper never keeps a client it closed. A producer whose client had to be
replaced drops it and builds the next one on its next call; if the broker is still
unreachable then, that call raises ``TransportError`` and the one after tries again, so
an outage of any length ends with a working producer. kafka-python's consumer and admin
clients reconnect by themselves and are closed only by ``close()``. Each wrapper reports
to ``streamproc.dependencies`` whether the broker answers (``/readyz``, the
``streamproc_dependency_unreachable_seconds`` gauge).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import kafka
import kafka.errors as kerr
from kafka.record import util as record_util
from kafka.structs import OffsetAndMetadata, TopicPartition

from streamproc.config.transport import (
    KafkaTransportConfig,
    kafka_client_kwargs,
    kafka_consumer_kwargs,
    kafka_producer_kwargs,
)
from streamproc.dependencies import DEPENDENCIES
from streamproc.transport.base import OnDelivery, Record, TopicSpec
from streamproc.transport.errors import TransportError
from streamproc.transport.kafka_compat import keep_joined

log = logging.getLogger(__name__)

C = TypeVar("C")

# Lost to a rebalance: the partition's next owner re-reads from the last commit.
_REBALANCE_ERRORS = (
    kerr.CommitFailedError,
    kerr.RebalanceInProgressError,
    kerr.IllegalGenerationError,
    kerr.UnknownMemberIdError,
)
KAFKA = "kafka"  # the service's name in streamproc.dependencies


def _hosts(servers: str) -> list[tuple[str, int]]:
    """``h1:9092,[::1]:9093,h3`` -> ``[("h1", 9092), ("::1", 9093), ("h3", 9092)]``."""
    out = []
    for item in filter(None, (s.strip() for s in servers.split(","))):
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit() or (host.count(":") and not host.endswith("]")):
            host, port = item, "9092"  # no port given
        out.append((host.strip("[]"), int(port)))
    return out


def _probe(servers: str, timeout_s: float) -> str | None:
    """None if some bootstrap server accepts a TCP connection, else why none did."""
    why = "no bootstrap servers"
    for host, port in _hosts(servers):
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            return None
        except OSError as err:
            why = f"{host}:{port}: {err}"
    return why


def _connect(cfg: KafkaTransportConfig, role: str, build: Callable[[int], C]) -> C:
    """Wait (with backoff) until a bootstrap server accepts TCP, then build the client."""
    deadline = time.monotonic() + cfg.connect_timeout_s
    delay = 0.1
    while (why := _probe(cfg.bootstrap_servers, min(2.0, cfg.connect_timeout_s))) is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _unreachable(cfg, role, why)
        log.warning("Kafka %s: no broker reachable (%s); retrying in %.1f s", role, why, delay)
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 5.0)
    # Reachable: the client's own bootstrap gets the rest of the budget (a starting
    # broker accepts TCP a little before it serves metadata).
    budget_ms = max(1_000, int((deadline - time.monotonic()) * 1000))
    try:
        return build(budget_ms)
    except kerr.KafkaError as err:
        raise _unreachable(cfg, role, f"{type(err).__name__}: {err}") from err


def _unreachable(cfg: KafkaTransportConfig, role: str, why: str) -> TransportError:
    return TransportError(
        f"Kafka {role}: cannot connect to bootstrap servers {cfg.bootstrap_servers} within "
        f"{cfg.connect_timeout_s:g} s ({why}). Check that the broker runs "
        f"(`scripts/services.sh status`) and the transport.bootstrap_servers config key "
        f"(and security_protocol / sasl_* / ssl_* if the cluster needs them)."
    )


def crc32c_is_native() -> bool:
    """kafka-python checksums every record batch (CRC-32C) on produce and on fetch; without
    the ``crc32c`` C extension it silently uses pure Python, about 0.25 s per 0.8 MB
    window on this project's machine, which caps a worker at a few windows a second."""
    return getattr(record_util, "crc32c_c", None) is not None


class KafkaTransport:
    """``Transport`` on a Kafka cluster; connects (with retries) when constructed."""

    def __init__(self, cfg: KafkaTransportConfig) -> None:
        self._cfg = cfg
        if not crc32c_is_native():
            log.warning(
                "the crc32c package is missing: kafka-python checksums record batches in "
                "pure Python, which is very slow for frame windows; `pip install crc32c`"
            )
        self._admin = _connect(
            cfg,
            "admin",
            lambda budget_ms: kafka.KafkaAdminClient(
                **kafka_client_kwargs(cfg),
                client_id=f"{cfg.client_id_prefix}-admin",
                bootstrap_timeout_ms=budget_ms,
            ),
        )

    def ensure_topics(self, specs: list[TopicSpec]) -> None:
        try:
            existing = set(self._admin.list_topics())
            wanted = {s.name: _new_topic(s) for s in specs if s.name not in existing}
            if not wanted:
                return
            result = self._admin.create_topics(wanted, raise_errors=False)
        except kerr.KafkaError as err:
            names = [s.name for s in specs]
            raise TransportError(f"could not create topics {names}: {err}") from err
        created, failed = [], []
        for topic in result["topics"]:
            code = topic["error_code"]
            if code == 0:
                created.append(topic["name"])
            elif code != kerr.TopicAlreadyExistsError.errno:  # another worker won the race
                reason = topic.get("error_message") or kerr.for_code(code).__name__
                failed.append(f"{topic['name']}: {reason}")
        if failed:
            raise TransportError(f"Kafka refused to create topics: {'; '.join(failed)}")
        if not created:
            return
        log.info("created Kafka topics %s", created)
        try:
            # KRaft accepts a create before every partition has a leader; producing in
            # that window would wait out max_block_ms.
            self._admin.wait_for_topics(created, timeout_ms=self._cfg.request_timeout_ms)
        except kerr.KafkaError as err:
            raise TransportError(f"topics {created} were created but are not ready: {err}") from err

    def producer(self) -> KafkaTransportProducer:
        cfg = self._cfg
        return KafkaTransportProducer(lambda: connect_producer(cfg), cfg)

    def consumer(
        self, topics: list[str], group: str, client_id: str | None = None
    ) -> KafkaTransportConsumer:
        cfg = self._cfg
        client: kafka.KafkaConsumer = _connect(
            cfg,
            "consumer",
            lambda budget_ms: kafka.KafkaConsumer(
                **kafka_consumer_kwargs(cfg, group, client_id), bootstrap_timeout_ms=budget_ms
            ),
        )
        try:
            # Subscribing to a missing topic is silently accepted by Kafka: the member
            # would just never get partitions. Fail as the memory peer does.
            missing = [t for t in topics if not client.partitions_for_topic(t)]
            if missing:
                raise TransportError(
                    f"topics {missing} do not exist on {cfg.bootstrap_servers}; create them "
                    f"first with Transport.ensure_topics (auto-creation is not used)"
                )
            client.subscribe(topics)
        except BaseException as err:
            client.close(autocommit=False)
            if isinstance(err, kerr.KafkaError):
                raise TransportError(f"cannot subscribe to {topics}: {err}") from err
            raise
        return KafkaTransportConsumer(client, group, cfg)

    def close(self) -> None:
        self._admin.close()


def connect_producer(cfg: KafkaTransportConfig) -> kafka.KafkaProducer:
    """A kafka-python producer, once a broker answers (``TransportError`` if none does
    within ``connect_timeout_s``)."""
    return _connect(
        cfg,
        "producer",
        lambda budget_ms: kafka.KafkaProducer(
            **kafka_producer_kwargs(cfg), bootstrap_timeout_ms=budget_ms
        ),
    )


def _new_topic(spec: TopicSpec) -> dict[str, Any]:
    configs = {} if spec.retention_ms is None else {"retention.ms": str(spec.retention_ms)}
    if spec.min_insync_replicas is not None:
        # With acks=all, a write is acknowledged once this many replicas have it: with
        # replication 3 and 2 here, losing one broker loses no acknowledged window or alert.
        configs["min.insync.replicas"] = str(spec.min_insync_replicas)
    return {
        "num_partitions": spec.partitions,
        "replication_factor": spec.replication,
        "configs": configs,
    }


class KafkaTransportProducer:
    """Delivery errors arrive on kafka-python's sender thread; ``flush`` reports them.

    kafka-python (3.0.x) treats any non-retriable delivery error of an idempotent,
    non-transactional producer as fatal: every later send fails with the same error.
    One oversized window would silence the alerts too, so after a failed flush (or a
    send that kafka-python refused for a reason other than size or metadata) the client
    is dropped and the next call builds a fresh one (new producer id): the producer
    stays usable. A failed rebuild (the broker still unreachable) leaves no client, so
    the call after it tries again; nothing ever calls a closed client. The swap is why
    one producer belongs to one thread (or callers hold a lock), like a consumer.
    """

    def __init__(
        self, connect: Callable[[], kafka.KafkaProducer], cfg: KafkaTransportConfig
    ) -> None:
        self._connect = connect
        self._client: kafka.KafkaProducer | None = connect()
        self._cfg = cfg
        self._lock = threading.Lock()
        self._failures: list[str] = []  # since the last flush; a few kept, all counted
        self._failed = 0
        self._too_large = False
        self._closed = False

    def _live(self) -> kafka.KafkaProducer:
        """The client, built first if the last one was dropped."""
        if self._client is None:
            try:
                self._client = self._connect()
            except TransportError as err:
                DEPENDENCIES.failed(KAFKA, self, str(err))
                raise
            DEPENDENCIES.answered(KAFKA, self)
            log.info("Kafka producer: connected a new client")
        return self._client

    def _drop(self) -> None:
        """Close the client (its next use builds a new one). Anything still queued in it
        fails, and is counted by ``_on_failure`` for the next flush to report."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close(timeout=0)
            except Exception as err:  # a broken client must not keep its replacement away
                log.warning("Kafka producer: closing the old client failed: %s", err)

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
        client = self._live()
        try:
            future = client.send(topic, value=value, key=key, headers=headers or [])
        except kerr.MessageSizeTooLargeError as err:
            raise TransportError(
                f"message to {topic!r} is too large: {err}. Encode windows as jpeg or raise "
                f"transport.max_request_size ({self._cfg.max_request_size}) and the broker's "
                f"message.max.bytes"
            ) from err
        except kerr.KafkaTimeoutError as err:
            DEPENDENCIES.failed(KAFKA, self, f"send: {err}")
            raise TransportError(
                f"no metadata for topic {topic!r} (or no buffer space) within max_block_ms "
                f"({self._cfg.max_block_ms}): it does not exist (create it with "
                f"Transport.ensure_topics) or {self._cfg.bootstrap_servers} is unreachable"
            ) from err
        except kerr.KafkaError as err:
            # A fatal producer state (or a closed client) stays so: start a fresh one.
            self._drop()
            raise TransportError(f"send to {topic!r} failed: {err}") from err
        future.add_callback(self._on_success)
        future.add_errback(self._on_failure, topic)
        if on_delivery is not None:
            future.add_callback(lambda _metadata: on_delivery(None))
            future.add_errback(on_delivery)

    def _on_success(self, _metadata: object) -> None:
        # Ingest never flushes while it runs: its deliveries say when the broker is back.
        DEPENDENCIES.answered(KAFKA, self)

    def _on_failure(self, topic: str, exc: BaseException) -> None:
        # Retriable errors that still failed in the end: the broker, not the message.
        outage = isinstance(exc, kerr.KafkaTimeoutError) or bool(getattr(exc, "retriable", False))
        if outage and not self._closed:
            DEPENDENCIES.failed(KAFKA, self, f"delivery: {type(exc).__name__}: {exc}")
        with self._lock:
            self._failed += 1
            self._too_large |= isinstance(exc, kerr.MessageSizeTooLargeError)
            if len(self._failures) < 3:
                self._failures.append(f"{topic}: {type(exc).__name__}: {exc}")

    def flush(self, timeout_s: float | None = None) -> None:
        if self._closed:
            raise TransportError("flush() on a closed producer")
        client = self._client
        if client is not None:  # none: nothing was sent since it was dropped
            try:
                client.flush(timeout=timeout_s)
            except kerr.KafkaTimeoutError as err:
                DEPENDENCIES.failed(KAFKA, self, f"flush: {err}")
                raise TransportError(
                    f"messages not acknowledged within {timeout_s} s: {err}"
                ) from err
        with self._lock:
            failed, failures, too_large = self._failed, self._failures, self._too_large
            self._failed, self._failures, self._too_large = 0, [], False
        if not failed:
            return
        self._drop()  # everything is settled: nothing in flight is lost
        hint = (
            " The broker refused a message as too large: the topic's max.message.bytes "
            "(or the broker's message.max.bytes) is below transport.max_request_size."
            if too_large
            else ""
        )
        raise TransportError(
            f"{failed} message(s) were not delivered to {self._cfg.bootstrap_servers}: "
            + "; ".join(failures)
            + hint
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            DEPENDENCIES.forget(self)
            if self._client is not None:
                self._client.close(timeout=self._cfg.request_timeout_ms / 1000)
                self._client = None


class KafkaTransportConsumer:
    """One group member; like the kafka-python consumer under it, for one thread only."""

    def __init__(self, client: kafka.KafkaConsumer, group: str, cfg: KafkaTransportConfig) -> None:
        self._client = client
        self._group = group
        self._timeout_ms = cfg.request_timeout_ms
        self._uncommitted: dict[TopicPartition, int] = {}  # next offset to commit
        self._closed = False

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        self._check_open()
        keep_joined(self._client)
        try:
            batches = self._client.poll(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        except kerr.KafkaError as err:
            DEPENDENCIES.failed(KAFKA, self, f"poll: {err}")
            raise TransportError(f"poll failed for group {self._group!r}: {err}") from err
        if batches:
            DEPENDENCIES.answered(KAFKA, self)
        out: list[Record] = []
        for tp, messages in batches.items():
            out.extend(_record(m) for m in messages)
            if messages:
                self._uncommitted[tp] = messages[-1].offset + 1
        return out

    def commit(self, offsets: Mapping[tuple[str, int], int] | None = None) -> None:
        self._check_open()
        if offsets is None:
            chosen, self._uncommitted = self._uncommitted, {}
        else:
            chosen = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
            self._uncommitted = {
                tp: o for tp, o in self._uncommitted.items() if o > chosen.get(tp, -1)
            }
        owned = self._client.assignment()
        # Only partitions still owned: a moved one is re-read by its new owner from the
        # last commit, and committing it here could skip records the owner has not seen.
        meta = {
            tp: OffsetAndMetadata(offset, "", -1) for tp, offset in chosen.items() if tp in owned
        }
        if not meta:
            return
        try:
            self._client.commit(meta, timeout_ms=self._timeout_ms)
            DEPENDENCIES.answered(KAFKA, self)
        except _REBALANCE_ERRORS as err:
            log.warning(
                "group %r: commit lost to a rebalance (%s); the records are redelivered",
                self._group,
                err,
            )
        except kerr.KafkaError as err:
            DEPENDENCIES.failed(KAFKA, self, f"commit: {err}")
            raise TransportError(f"offset commit failed for group {self._group!r}: {err}") from err

    def assignment(self) -> set[tuple[str, int]]:
        self._check_open()
        return {(tp.topic, tp.partition) for tp in self._client.assignment()}

    def lag(self) -> dict[tuple[str, int], int]:
        """End offset minus position; a partition whose position is unknown is left out."""
        return self._behind(
            "lag", lambda tp: self._client.position(tp, timeout_ms=self._timeout_ms)
        )

    def committed_lag(self) -> dict[tuple[str, int], int]:
        """End offset minus the group's committed offset, as kafka-consumer-groups.sh
        computes LAG (one committed-offset request per owned partition: call it
        seldom)."""
        return self._behind("committed-lag", self._client.committed)

    def _behind(
        self, what: str, offset_of: Callable[[TopicPartition], int | None]
    ) -> dict[tuple[str, int], int]:
        """Per owned partition, its end offset minus ``offset_of`` it (left out if None)."""
        self._check_open()
        owned = list(self._client.assignment())
        if not owned:
            return {}
        try:
            ends = self._client.end_offsets(owned, timeout_ms=self._timeout_ms)
            lags: dict[tuple[str, int], int] = {}
            for tp in owned:
                offset = offset_of(tp)
                if offset is not None and tp in ends:
                    lags[(tp.topic, tp.partition)] = max(0, ends[tp] - offset)
        except kerr.KafkaError as err:
            DEPENDENCIES.failed(KAFKA, self, f"{what} lookup: {err}")
            raise TransportError(f"{what} lookup failed for group {self._group!r}: {err}") from err
        DEPENDENCIES.answered(KAFKA, self)  # a round trip to the broker worked
        return lags

    def close(self) -> None:
        # Leaves the group at once (LeaveGroup), so the others rebalance without
        # waiting out session_timeout_ms; nothing uncommitted is committed.
        if not self._closed:
            self._closed = True
            DEPENDENCIES.forget(self)
            self._client.close(autocommit=False, timeout_ms=self._timeout_ms)

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"consumer of group {self._group!r} is closed")


def _record(m: Any) -> Record:
    """kafka-python ConsumerRecord -> Record."""
    return Record(
        topic=m.topic,
        partition=m.partition,
        offset=m.offset,
        key=m.key,
        value=m.value if m.value is not None else b"",
        timestamp_ms=m.timestamp,
        headers=tuple((k, v) for k, v in (m.headers or ())),
    )
