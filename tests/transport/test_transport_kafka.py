"""The Kafka peer beyond the shared contract, against the real broker (marked ``kafka``),
plus its config section and connection failure, which need no broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import kafka
import pytest
from kafka.admin import ConfigResource, ConfigResourceType
from pydantic import ValidationError

from streamproc.config.transport import (
    KafkaTransportConfig,
    TopicsConfig,
    kafka_client_kwargs,
    kafka_consumer_kwargs,
    kafka_producer_kwargs,
)
from streamproc.transport import TopicSpec, topic_specs
from streamproc.transport import kafka as kafka_mod
from streamproc.transport.errors import TransportError
from streamproc.transport.kafka import KafkaTransport, _new_topic, crc32c_is_native


def fast(bootstrap: str, **extra: Any) -> KafkaTransportConfig:
    return KafkaTransportConfig(
        bootstrap_servers=bootstrap,
        connect_timeout_s=10,
        max_block_ms=1_500,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=300,
        **extra,
    )


def unique(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:10]}"


@pytest.fixture
def transport(kafka_bootstrap: str) -> Iterator[KafkaTransport]:
    tr = KafkaTransport(fast(kafka_bootstrap))
    yield tr
    tr.close()


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[Any]:
    client = kafka.KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    yield client
    client.close()


# -- config section --------------------------------------------------------------------


def test_sasl_needs_mechanism_user_and_password_and_names_what_is_missing() -> None:
    with pytest.raises(ValidationError, match="needs sasl_mechanism, sasl_username, sasl_pass"):
        KafkaTransportConfig(security_protocol="SASL_SSL")
    with pytest.raises(ValidationError, match=r"SASL_PLAINTEXT needs sasl_password \["):
        KafkaTransportConfig(
            security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u"
        )
    with pytest.raises(ValidationError, match="sasl_username set but security_protocol is PLAIN"):
        KafkaTransportConfig(sasl_username="u")


def test_other_cross_field_checks() -> None:
    with pytest.raises(ValidationError, match="ssl_keyfile is set without ssl_certfile"):
        KafkaTransportConfig(security_protocol="SSL", ssl_keyfile="k.pem")
    with pytest.raises(ValidationError, match="heartbeat_interval_ms"):
        KafkaTransportConfig(heartbeat_interval_ms=10_000, session_timeout_ms=10_000)
    with pytest.raises(ValidationError, match="compression_type"):
        KafkaTransportConfig(compression_type="lz4")
    with pytest.raises(ValidationError, match="bootstrap_server"):
        KafkaTransportConfig(bootstrap_server="x:9092")  # type: ignore[call-arg]


def test_client_kwargs_carry_the_secret_and_every_key_is_known_to_kafka_python() -> None:
    cfg = KafkaTransportConfig(
        bootstrap_servers="b1:9093, b2:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="s3cret",
        ssl_cafile="ca.pem",
    )
    assert "s3cret" not in repr(cfg) and "s3cret" not in cfg.model_dump_json()
    common = kafka_client_kwargs(cfg)
    assert common["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert common["sasl_plain_password"] == "s3cret"
    assert common["ssl_cafile"] == "ca.pem" and "ssl_certfile" not in common
    producer = kafka_producer_kwargs(cfg)
    assert producer["acks"] == "all" and producer["enable_idempotence"] is True
    consumer = kafka_consumer_kwargs(cfg, "workers")
    assert consumer["enable_auto_commit"] is False and consumer["group_id"] == "workers"
    # An unknown key would only fail when a client is built against a live broker.
    assert set(common) <= set(kafka.KafkaAdminClient.DEFAULT_CONFIG)
    assert set(producer) <= set(kafka.KafkaProducer.DEFAULT_CONFIG)
    assert set(consumer) <= set(kafka.KafkaConsumer.DEFAULT_CONFIG)


def test_topic_specs_use_the_kafka_topic_defaults() -> None:
    cfg = KafkaTransportConfig(partitions=6, replication=3, retention_ms=3_600_000)
    specs = topic_specs(cfg, TopicsConfig(publish_scores=True))
    assert {s.name for s in specs} == {
        "streamproc.frames",
        "streamproc.scores",
        "streamproc.alerts",
        "streamproc.dead-letter",
    }
    assert {(s.partitions, s.replication, s.retention_ms) for s in specs} == {(6, 3, 3_600_000)}
    assert {s.min_insync_replicas for s in specs} == {None}  # the broker's default


def test_min_insync_replicas_reaches_the_created_topics() -> None:
    cfg = KafkaTransportConfig(replication=3, min_insync_replicas=2)
    (spec, *_) = topic_specs(cfg, TopicsConfig())
    assert _new_topic(spec)["configs"] == {"min.insync.replicas": "2"}
    assert _new_topic(TopicSpec("t"))["configs"] == {}
    with pytest.raises(ValidationError, match="must not exceed replication"):
        KafkaTransportConfig(replication=1, min_insync_replicas=2)


def test_record_checksums_use_the_native_crc32c() -> None:
    # Without the crc32c extension kafka-python checksums every batch in pure Python,
    # which made the Kafka pipeline ten times slower than the in-memory one.
    assert crc32c_is_native()


class FakeClock:
    """The Kafka module's ``time``: ``sleep`` advances ``monotonic`` and takes no time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_unreachable_bootstrap_retries_for_connect_timeout_then_fails_with_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(kafka_mod, "time", clock)
    before = set(threading.enumerate())
    with pytest.raises(TransportError) as err:
        KafkaTransport(KafkaTransportConfig(bootstrap_servers="127.0.0.1:1", connect_timeout_s=3))
    # Retried with backoff until the budget was spent, and not a moment past it.
    assert len(clock.sleeps) >= 3 and clock.sleeps == sorted(clock.sleeps)
    assert sum(clock.sleeps) == pytest.approx(3)
    assert "127.0.0.1:1" in str(err.value) and "scripts/services.sh status" in str(err.value)
    assert "transport.bootstrap_servers" in str(err.value) and "within 3 s" in str(err.value)
    # No client was built, so no client thread was left behind.
    assert {t for t in threading.enumerate() if t.is_alive()} <= before


# -- against the broker ----------------------------------------------------------------


@pytest.mark.kafka
def test_ensure_topics_creates_partitions_and_retention(
    transport: KafkaTransport, admin: Any
) -> None:
    name = unique("kafka")
    transport.ensure_topics([TopicSpec(name, 3, 1, 3_600_000)])
    (topic,) = admin.describe_topics([name])
    assert len(topic["partitions"]) == 3
    configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    assert configs["topic"][name]["retention.ms"]["value"] == "3600000"
    transport.ensure_topics([TopicSpec(name, 5)])  # exists: left as it is
    (topic,) = admin.describe_topics([name])
    assert len(topic["partitions"]) == 3


@pytest.mark.kafka
def test_losing_the_create_race_is_tolerated(
    transport: KafkaTransport, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique("kafka")
    transport.ensure_topics([TopicSpec(name, 2)])
    # Another worker created it between our list and our create: TopicAlreadyExists.
    monkeypatch.setattr(transport._admin, "list_topics", lambda: [])
    real_create = transport._admin.create_topics
    answers: list[int] = []

    def create(*args: Any, **kwargs: Any) -> Any:
        result = real_create(*args, **kwargs)
        answers.extend(t["error_code"] for t in result["topics"])
        return result

    monkeypatch.setattr(transport._admin, "create_topics", create)
    transport.ensure_topics([TopicSpec(name, 2)])
    # The race was run (the broker said the topic exists), and the topic is the first's.
    assert answers == [kafka.errors.TopicAlreadyExistsError.errno]
    (topic,) = admin.describe_topics([name])
    assert len(topic["partitions"]) == 2


@pytest.mark.kafka
def test_impossible_topics_fail_with_the_brokers_reason(transport: KafkaTransport) -> None:
    with pytest.raises(TransportError, match=r"refused.*replication factor of 3"):
        transport.ensure_topics([TopicSpec(unique("kafka"), 1, replication=3)])


@pytest.mark.kafka
def test_flush_reports_a_refused_message_and_the_producer_recovers(
    transport: KafkaTransport, admin: Any
) -> None:
    name = unique("small")
    admin.create_topics(
        {
            name: {
                "num_partitions": 1,
                "replication_factor": 1,
                "configs": {"max.message.bytes": "2000"},
            }
        }
    )
    admin.wait_for_topics([name])
    producer = transport.producer()
    producer.send(name, bytes(10_000))  # under max_request_size, over the topic's limit
    with pytest.raises(TransportError, match=r"1 message.*not delivered.*too large"):
        producer.flush(10)
    producer.send(name, b"small")  # kafka-python alone would fail this one too
    producer.flush(10)
    producer.close()


@pytest.mark.kafka
def test_a_member_polling_with_short_timeouts_finishes_joining_and_commits(
    transport: KafkaTransport,
) -> None:
    """kafka-python 3.0.x left such a member "rebalancing" for good (every commit lost,
    the broker dropping it); without the workaround this fails in every run here."""
    name = unique("join")
    transport.ensure_topics([TopicSpec(name, partitions=12)])
    producer = transport.producer()
    for i in range(60):
        producer.send(name, b"x" * 100, str(i).encode())
    producer.flush(10)
    producer.close()
    group = unique("group")
    consumer = transport.consumer([name], group)
    seen, deadline = 0, time.monotonic() + 30
    while seen < 60 and time.monotonic() < deadline:
        seen += len(consumer.poll(5, 0.001))  # the worker's short prefetch polls
        consumer.commit()
    for _ in range(200):  # a little longer, as a worker would keep polling
        consumer.poll(5, 0.001)
    consumer.close()
    assert seen == 60
    again = transport.consumer([name], group)
    redelivered = sum(len(again.poll(100, 0.5)) for _ in range(8))
    again.close()
    assert redelivered == 0, "the commits were lost: the member never finished joining"
