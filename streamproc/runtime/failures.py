"""How the stream worker tells a bad record from a bad moment.

A *deterministic* failure belongs to one record: it fails the same way however often it
is retried (an undecodable message, a window the model cannot take, a score or setting
the decision stage rejects, a camera state that no longer validates). The worker
dead-letters that record and goes on. A *transient* failure belongs to the moment (broker,
store or model service unreachable, a timeout): the worker retries the batch with
backoff. Anything unknown counts as transient, so it is retried first; a record that
still fails on its own after the retry deadline is dead-lettered as ``retries-exhausted``.

An *outage* (the broker or the state store does not answer) is transient and never the
record's fault: it does not count toward a batch's attempts or retry deadline, and never
dead-letters a record, however long it lasts. The model service is left out on purpose:
a window that kills or hangs its replica looks the same as a replica outage, and must not
hold its partition forever.

The reason is a label of the ``streamproc_bad_messages_total`` metric and a header of the
dead-letter message, so it comes from this fixed set, never from the error's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import ValidationError

from streamproc.errors import ServiceUnavailableError, StreamprocError
from streamproc.threshold.errors import CorruptStateError, StateStoreError
from streamproc.transport.errors import TransportError

Reason = Literal[
    "decode", "contract", "incomplete", "scoring", "decision", "state", "retries-exhausted"
]
REASONS: tuple[Reason, ...] = get_args(Reason)

MAX_ERROR_CHARS = 1000  # of the dead-letter `error` header


def is_outage(err: BaseException) -> bool:
    """True when the broker or the state store failed, not the record: a
    ``TransportError`` or any ``StateStoreError`` but a stored value that does not
    validate (a lost WATCH race a hundred times, refused credentials and a redis error
    reply are the store's, too)."""
    if isinstance(err, CorruptStateError):
        return False
    return isinstance(err, (TransportError, StateStoreError))


def is_transient(err: BaseException) -> bool:
    """True when retrying the same work later may succeed."""
    if isinstance(err, CorruptStateError):
        return False  # a stored value that does not validate stays invalid
    if is_outage(err) or isinstance(err, ServiceUnavailableError):
        return True  # the broker, the store or the model service (not the record) failed
    # A Ray task error is also an instance of the exception the replica raised, so a
    # ValueError inside the model counts as deterministic here, as it should.
    # Everything else, connection errors, timeouts, client-library errors and anything
    # unknown, is retried first.
    return not isinstance(err, (StreamprocError, ValueError, TypeError, ValidationError))


@dataclass(frozen=True)
class Failure:
    """Why a record is dead-lettered: a bounded reason and the error that decided it."""

    reason: Reason
    error: str
    error_class: str

    @classmethod
    def of(cls, reason: Reason, err: BaseException) -> Failure:
        return cls(reason, str(err)[:MAX_ERROR_CHARS], type(err).__name__)


def failure_while_applying(err: BaseException, exhausted: bool) -> Failure | None:
    """What a failure while applying one window to its camera's state means for that
    record: None = retry the batch; else the record's dead-letter reason."""
    if isinstance(err, CorruptStateError):
        return Failure.of("state", err)
    if is_outage(err):
        return None  # however long it lasts: the record is not at fault
    if not is_transient(err):
        return Failure.of("decision", err)
    return Failure.of("retries-exhausted", err) if exhausted else None


def failure_while_scoring(err: BaseException, exhausted: bool) -> Failure | None:
    """The same for scoring one window on its own."""
    if is_outage(err):
        return None  # reading the camera's settings failed: the store's fault
    if not is_transient(err):
        return Failure.of("scoring", err)
    return Failure.of("retries-exhausted", err) if exhausted else None
