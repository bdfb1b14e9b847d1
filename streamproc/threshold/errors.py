"""Errors of the per-camera state stores. Each message names the store (URL with the
password masked, or the file) and what the operator should do next."""

from __future__ import annotations

from pydantic import ValidationError

from streamproc.errors import StreamprocError


class StateStoreError(StreamprocError):
    """The state store cannot be used: unreachable, misconfigured, or holds a bad value."""


class StateUnavailableError(StateStoreError):
    """The store did not answer within its retry deadline; a later retry may succeed."""


class CorruptStateError(StateStoreError):
    """A stored value is not valid JSON of the expected model; retrying will not help."""

    @classmethod
    def for_value(cls, where: str, camera: str, err: ValidationError) -> CorruptStateError:
        """``where`` says exactly which stored value is bad (a redis key, a SQLite row)."""
        first = err.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        field = f"{loc}: " if loc else ""
        return cls(
            f"corrupt value at {where}: {field}{first['msg']} ({err.error_count()} error(s)). "
            f"Run `streamproc camera reset {camera}` to drop the stored settings and state of "
            "this camera, then set its settings again."
        )
