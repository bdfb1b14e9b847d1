"""The one place streamproc reaches into kafka-python's private internals.

kafka-python 3.0.x (pinned in pyproject.toml) stalls a consumer-group member for good
in one case (below); the mend needs the consumer's private ``_coordinator``. If a new
kafka-python renames it, ``keep_joined`` would silently do nothing, so
``check_internals`` says what is missing and ``tests/transport/test_transport_kafka_compat.py``
fails loudly on an upgrade instead.
"""

from __future__ import annotations

import inspect

import kafka
from kafka.coordinator.consumer import ConsumerCoordinator

COORDINATOR_METHODS = ("request_rejoin", "generation_if_stable", "need_rejoin")


def check_internals() -> list[str]:
    """What of the internals ``keep_joined`` uses this kafka-python lacks (empty = all)."""
    missing = [m for m in COORDINATOR_METHODS if not hasattr(ConsumerCoordinator, m)]
    if "self._coordinator" not in inspect.getsource(kafka.KafkaConsumer.__init__):
        missing.append("KafkaConsumer._coordinator")
    return missing


def keep_joined(client: kafka.KafkaConsumer) -> None:
    """Work around a kafka-python 3.0.x bug that stalls a member for good.

    When a poll's timeout runs out while a JoinGroup/SyncGroup round trip is in flight,
    kafka-python leaves the round trip running and marks the member stable only when a
    later poll awaits it. A rejoin that was triggered by a metadata change (the usual
    one right after a consumer starts) stops being "needed" as soon as the leader has
    computed the assignment, so later polls never await it: the member stays
    "rebalancing" with heartbeats off, every commit fails, the broker drops it after
    session_timeout_ms and its partitions are never reassigned to it. Short polls (the
    worker's prefetch) hit this in about half of the pipeline benchmark runs. Asking for
    a rejoin when the member is neither stable nor about to rejoin makes the next poll
    finish (or redo) the join; during a healthy join it only makes that poll await the
    round trip in flight."""
    coordinator = getattr(client, "_coordinator", None)
    if coordinator is None or not hasattr(coordinator, "request_rejoin"):
        return  # another kafka-python: nothing to mend
    if coordinator.generation_if_stable() is None and not coordinator.need_rejoin():
        coordinator.request_rejoin()
