"""The alert-sink boundary: the outbox's messages become typed events, the topic sink
puts alert and score events on their topics keyed by camera (the bytes downstream apps
read), the log sink hands them to the CLI's printer, a fan-out reaches every sink."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from streamproc.alerts.lifecycle import ScoredWindow, apply_scores
from streamproc.alerts.schema import AlertEvent, ScoreEvent
from streamproc.alerts.sinks import FanOut, LogSink, TopicSink, outbox_event
from streamproc.config.transport import MemoryTransportConfig, TopicsConfig
from streamproc.threshold.base import CameraSettings
from streamproc.transport import make_transport, topic_specs
from tests.alerts.test_alerts_lifecycle import CAL, POLICY

TOPICS = TopicsConfig(frames="f", scores="s", alerts="a", dead_letter="d", publish_scores=True)


def outbox() -> list[dict[str, Any]]:
    scores = [0.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # one incident, start to end
    window = ScoredWindow("cam", 0, scores, [100.0 + i for i in range(len(scores))], "s1")
    return apply_scores(None, window, CameraSettings(), CAL, POLICY).outbox


def test_outbox_messages_become_typed_events() -> None:
    events = [outbox_event(m) for m in outbox()]
    alerts = [e for e in events if isinstance(e, AlertEvent)]
    assert [a.kind for a in alerts] == ["start", "end"]
    assert sum(isinstance(e, ScoreEvent) for e in events) == 9
    with pytest.raises(ValidationError):
        outbox_event({"topic": "alerts", "key": "cam", "payload": {"kind": "start"}})


def test_topic_sink_writes_each_event_to_its_topic_keyed_by_camera() -> None:
    transport = make_transport(MemoryTransportConfig())
    transport.ensure_topics(topic_specs(MemoryTransportConfig(), TOPICS))
    consumer = transport.consumer([TOPICS.alerts, TOPICS.scores], "g")
    sink = TopicSink(transport.producer(), TOPICS)
    messages = outbox()
    for m in messages:
        sink.send(outbox_event(m))
    sink.flush()
    got = consumer.poll(100, 1.0)
    by_topic = {t: [r for r in got if r.topic == t] for t in (TOPICS.alerts, TOPICS.scores)}
    assert len(by_topic[TOPICS.alerts]) == 2 and len(by_topic[TOPICS.scores]) == 9
    assert {r.key for r in got} == {b"cam"}
    # The same JSON the outbox holds: what consumers read did not change with the types.
    sent = sorted(json.dumps(m["payload"]) for m in messages)
    assert sorted(r.value.decode() for r in got) == sent
    transport.close()


def test_log_sink_hands_events_to_the_hook_and_fan_out_reaches_every_sink() -> None:
    seen: list[tuple[str, str]] = []
    other: list[str] = []
    sink = FanOut(
        LogSink(lambda topic, p: seen.append((topic, p.get("kind", "")))),
        LogSink(lambda topic, p: other.append(topic)),
    )
    for m in outbox():
        sink.send(outbox_event(m))
    sink.flush()
    assert [k for t, k in seen if t == "alerts"] == ["start", "end"]
    assert len(other) == 11


def test_log_sink_without_a_hook_logs_alerts_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="streamproc.alerts")
    sink = LogSink()
    for m in outbox():
        sink.send(outbox_event(m))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all(line.startswith("alert {") for line in lines)
