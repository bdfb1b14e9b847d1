"""Errors of the transport boundary, shared by the memory and Kafka backends."""

from __future__ import annotations

from streamproc.errors import StreamprocError


class TransportError(StreamprocError):
    """A broker cannot be reached, a topic is missing, or a message was not delivered."""
