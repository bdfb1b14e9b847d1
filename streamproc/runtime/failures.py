"""How the stream worker tells a bad record from a bad moment.

A *deterministic* failure belongs to one record: it fails the same way however often it
is retried (an undecodable message, a window the model cannot take, a score or setting
the decision stage rejects, a camera state that no longer validates). The worker
dead-letters that record and goes on. A *transient* failure belongs to the moment (broker,
store or model service unreachable, a timeout): the worker retries the batch with
backoff. Anything unknown counts as transient, so it is retried first; a record that
still fails on its own after the retry deadline is dead-lettered as ``retries-exhausted``.

The reason is a label of the ``streamproc_bad_messages_total`` metric and a header of the
dead-letter message, so it comes from this fixed set, never from the error's text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from pydantic import ValidationError

from streamproc.errors import ServiceUnavailableError, StreamprocError
from streamproc.threshold.errors import CorruptStateError, StateStoreError

Reason = Literal[
    "decode", "contract", "incomplete", "scoring", "decision", "state", "retries-exhausted"
]
REASONS: tuple[Reason, ...] = get_args(Reason)

MAX_ERROR_CHARS = 1000  # of the dead-letter `error` header


def is_transient(err: BaseException) -> bool:
    """True when retrying the same work later may succeed."""
    if isinstance(err, CorruptStateError):
        return False  # a stored value that does not validate stays invalid
    if isinstance(err, (StateStoreError, ServiceUnavailableError)):
        return True  # the store or the model service (not the record) failed
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
    if not is_transient(err):
        return Failure.of("decision", err)
    return Failure.of("retries-exhausted", err) if exhausted else None


def failure_while_scoring(err: BaseException, exhausted: bool) -> Failure | None:
    """The same for scoring one window on its own."""
    if not is_transient(err):
        return Failure.of("scoring", err)
    return Failure.of("retries-exhausted", err) if exhausted else None
