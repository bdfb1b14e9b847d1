"""Moving keyed byte messages between stages: frame windows in, scores and alerts out.

``make_transport`` builds the backend the config names: ``memory`` (the embedded
in-process broker) or ``kafka``. Both implement the protocols in ``base`` with the same
guarantees; ``topic_specs`` turns the topics section into what ``ensure_topics`` needs.
"""

from __future__ import annotations

from streamproc.config.transport import (
    KafkaTransportConfig,
    MemoryTransportConfig,
    TopicsConfig,
    TransportConfig,
)
from streamproc.transport.base import Consumer, Producer, Record, TopicSpec, Transport
from streamproc.transport.errors import TransportError

__all__ = [
    "Consumer",
    "Producer",
    "Record",
    "TopicSpec",
    "Transport",
    "TransportError",
    "make_transport",
    "topic_specs",
]


def make_transport(cfg: TransportConfig) -> Transport:
    """The configured backend. A memory transport is a new, empty broker: share the
    returned instance between the stages that should talk to each other."""
    # Imported here so the memory backend never needs kafka-python to be importable.
    match cfg:
        case MemoryTransportConfig():
            from streamproc.transport.memory import MemoryTransport

            return MemoryTransport(cfg)
        case KafkaTransportConfig():
            from streamproc.transport.kafka import KafkaTransport

            return KafkaTransport(cfg)
    raise TypeError(f"unknown transport config {type(cfg).__name__}; expected memory or kafka")


def topic_specs(cfg: TransportConfig, topics: TopicsConfig) -> list[TopicSpec]:
    """The topics a deployment needs, sized by the transport section."""
    names = [topics.frames, topics.alerts, topics.dead_letter]
    if topics.publish_scores:
        names.append(topics.scores)
    if isinstance(cfg, KafkaTransportConfig):
        return [
            TopicSpec(n, cfg.partitions, cfg.replication, cfg.retention_ms, cfg.min_insync_replicas)
            for n in names
        ]
    return [TopicSpec(n, cfg.partitions) for n in names]
