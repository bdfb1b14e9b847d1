"""One exception root. Every message says what is wrong and what to do next."""

from __future__ import annotations


class StreamprocError(Exception):
    """Root of every error streamproc raises on purpose (bad input, bad config)."""


class ConfigError(StreamprocError):
    """A configuration file or value is invalid."""


class DataError(StreamprocError):
    """Input footage, labels or a dataset layout is missing or malformed."""


class ArtifactError(StreamprocError):
    """A model artifact directory is missing, incomplete or inconsistent."""


class ServiceUnavailableError(StreamprocError):
    """A service the stream needs (the model service, a store, the broker) did not answer,
    timed out or refused for a reason of its own: the work is retried, not dead-lettered
    (``runtime.failures.is_transient``)."""
