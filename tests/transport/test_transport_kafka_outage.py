"""A Kafka producer whose client had to be replaced while the broker was unreachable
keeps trying to connect and works again once a broker answers. At 9d4b37c the failed
rebuild left the closed client in place, and every later send failed with "KafkaProducer
already closed!" even after the broker was back."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import kafka
import pytest

from streamproc.config.transport import KafkaTransportConfig
from streamproc.dependencies import DEPENDENCIES
from streamproc.transport import TopicSpec
from streamproc.transport.errors import TransportError
from streamproc.transport.kafka import KafkaTransport, KafkaTransportProducer, connect_producer

pytestmark = pytest.mark.kafka

NOWHERE = "127.0.0.1:1"  # nothing listens there


def test_a_failed_rebuild_leaves_the_producer_retrying_until_the_broker_answers(
    kafka_bootstrap: str,
) -> None:
    cfg = KafkaTransportConfig(
        bootstrap_servers=kafka_bootstrap, connect_timeout_s=1, max_block_ms=2_000
    )
    target = [cfg]  # where the next client connects: the broker, or nowhere (an outage)
    threads = threading.active_count()
    admin = kafka.KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    small, ok = f"test.outage.small.{uuid.uuid4().hex[:8]}", f"test.outage.{uuid.uuid4().hex[:8]}"
    admin.create_topics(
        {
            small: {
                "num_partitions": 1,
                "replication_factor": 1,
                "configs": {"max.message.bytes": "2000"},
            },
            ok: {"num_partitions": 1, "replication_factor": 1},
        }
    )
    admin.wait_for_topics([small, ok])
    admin.close()
    producer = KafkaTransportProducer(lambda: connect_producer(target[0]), cfg)
    try:
        producer.send(small, bytes(10_000))  # refused by the broker: the client is replaced
        target[0] = cfg.model_copy(update={"bootstrap_servers": NOWHERE})  # an outage begins
        with pytest.raises(TransportError):
            producer.flush(10)
        for _ in range(3):  # each call tries to connect again; none finds a closed client
            with pytest.raises(TransportError, match=r"cannot connect .*127\.0\.0\.1:1") as err:
                producer.send(ok, b"during the outage")
            assert "closed" not in str(err.value)
            assert "kafka" in DEPENDENCIES.unreachable()
        target[0] = cfg  # the broker is back
        producer.send(ok, b"after the outage")
        producer.flush(10)
        assert "kafka" not in DEPENDENCIES.unreachable()
    finally:
        producer.close()
    assert DEPENDENCIES.unreachable() == {}
    assert read_all(kafka_bootstrap, ok) == [b"after the outage"]
    assert threading.active_count() <= threads + 1  # no client's network thread leaked


def read_all(bootstrap: str, topic: str) -> list[Any]:
    consumer = kafka.KafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5_000
    )
    try:
        return [m.value for m in consumer]
    finally:
        consumer.close()


def test_a_producer_whose_client_was_dropped_reports_its_failures_at_the_next_flush(
    kafka_bootstrap: str,
) -> None:
    """A send refused for a reason kafka-python keeps (here: the client was closed
    under it) drops the client; the next send connects a new one."""
    transport = KafkaTransport(KafkaTransportConfig(bootstrap_servers=kafka_bootstrap))
    topic = f"test.outage.{uuid.uuid4().hex[:8]}"
    try:
        transport.ensure_topics([TopicSpec(topic)])
        producer = transport.producer()
        producer._client.close(timeout=0)  # type: ignore[union-attr]  # what a fatal error leaves
        with pytest.raises(TransportError, match="already closed"):
            producer.send(topic, b"lost")
        producer.send(topic, b"kept")  # a fresh client
        producer.flush(10)
        producer.close()
    finally:
        transport.close()
    assert read_all(kafka_bootstrap, topic) == [b"kept"]
