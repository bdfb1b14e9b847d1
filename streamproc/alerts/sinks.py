"""Where the decision stage's messages go: one protocol, ``AlertSink``, at the worker's
outbox boundary.

The outbox (``CameraState.outbox``, in the state store) keeps each message as the plain
dict it was decided as, ``{"topic": "alerts" | "scores", "key": camera, "payload": ...}``,
so stored state reads the same across versions; ``outbox_event`` turns one into its typed
model (``AlertEvent`` or ``ScoreEvent``) and every sink takes only the typed models.

- ``TopicSink``: alert events to the alerts topic and score events to the scores topic of
  the transport, keyed by camera (what downstream apps read);
- ``LogSink``: alert events to a callback (``streamproc run`` prints them) or a log line;
- ``FanOut``: several sinks as one.

``send`` may only queue; ``flush`` blocks until everything sent is delivered (the worker
flushes before it clears the outbox and commits, so a crash re-sends, never loses).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from streamproc.alerts.schema import AlertEvent, ScoreEvent
from streamproc.config.transport import TopicsConfig
from streamproc.transport.base import Producer

log = logging.getLogger("streamproc.alerts")

Event = AlertEvent | ScoreEvent
MessageHook = Callable[[str, dict[str, Any]], None]  # (topic kind, payload): the CLI's printer


class AlertSink(Protocol):
    def send(self, event: Event) -> None:
        """Queue one event (its copy after a redelivery carries the same ids)."""

    def flush(self) -> None:
        """Block until every event sent is delivered; raise if one was not."""


def outbox_event(msg: dict[str, Any]) -> Event:
    """The typed event of one outbox message; a message that does not validate raises
    pydantic's ValidationError (the worker dead-letters or retries like any decision)."""
    if msg["topic"] == "alerts":
        return AlertEvent.model_validate(msg["payload"])
    return ScoreEvent.model_validate(msg["payload"])


def topic_kind(event: Event) -> str:
    """'alerts' or 'scores': the outbox's name for the event's topic."""
    return "alerts" if isinstance(event, AlertEvent) else "scores"


def payload(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="json")


class TopicSink:
    """The transport's alerts and scores topics (``topics.alerts``, ``topics.scores``)."""

    def __init__(self, producer: Producer, topics: TopicsConfig) -> None:
        self.producer, self.topics = producer, topics

    def send(self, event: Event) -> None:
        topic = self.topics.alerts if isinstance(event, AlertEvent) else self.topics.scores
        self.producer.send(topic, json.dumps(payload(event)).encode(), event.camera.encode())

    def flush(self) -> None:
        self.producer.flush()


class LogSink:
    """Alert events to ``hook(kind, payload)`` (every event, scores included, as the
    pipeline's ``on_message`` always had them), or without a hook one log line each."""

    def __init__(self, hook: MessageHook | None = None) -> None:
        self.hook = hook

    def send(self, event: Event) -> None:
        if self.hook is not None:
            self.hook(topic_kind(event), payload(event))
        elif isinstance(event, AlertEvent):
            log.info("alert %s", json.dumps(payload(event)))

    def flush(self) -> None:
        pass


class FanOut:
    """Every event to each sink, in order; ``flush`` flushes them all."""

    def __init__(self, *sinks: AlertSink) -> None:
        self.sinks = sinks

    def send(self, event: Event) -> None:
        for sink in self.sinks:
            sink.send(event)

    def flush(self) -> None:
        for sink in self.sinks:
            sink.flush()
