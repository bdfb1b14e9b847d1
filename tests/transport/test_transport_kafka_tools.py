"""Kafka's own command-line tools, as installed by scripts/install_services.sh, read what
streamproc writes: topics, and a consumer group's committed offsets and lag."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from streamproc.transport import TopicSpec
from streamproc.transport.kafka import KafkaTransport
from tests.transport.test_transport_kafka import fast

pytestmark = pytest.mark.kafka


def tool(name: str, *args: str) -> str:
    bin_dir = os.environ.get("STREAMPROC_KAFKA_BIN")
    if not bin_dir:
        pytest.fail('STREAMPROC_KAFKA_BIN not set: run `eval "$(scripts/services.sh start)"`')
    res = subprocess.run(
        [str(Path(bin_dir) / name), *args], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


def test_topics_and_committed_lag_as_kafkas_tools_show_them(kafka_bootstrap: str) -> None:
    name, group = f"test.tools.{uuid.uuid4().hex[:10]}", f"test.g.{uuid.uuid4().hex[:10]}"
    transport = KafkaTransport(fast(kafka_bootstrap))
    try:
        transport.ensure_topics([TopicSpec(name, partitions=1)])
        producer = transport.producer()
        for i in range(5):
            producer.send(name, b"x", str(i).encode())
        producer.flush(10)
        producer.close()
        consumer = transport.consumer([name], group)
        got = []
        for _ in range(40):
            got += consumer.poll(10, 0.5)
            if len(got) == 5:
                break
        assert len(got) == 5
        consumer.commit({(name, 0): 3})  # three applied, two still to do
        consumer.close()
    finally:
        transport.close()
    assert name in tool("kafka-topics.sh", "--bootstrap-server", kafka_bootstrap, "--list")
    out = tool(
        "kafka-consumer-groups.sh", "--bootstrap-server", kafka_bootstrap, "--describe",
        "--group", group,
    )  # fmt: skip
    row = next(line.split() for line in out.splitlines() if name in line)
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
    assert row[1:6] == [name, "0", "3", "5", "2"], out
