"""Where per-camera settings and stream state live: ``embedded`` (a SQLite file on one
machine) or ``redis`` (shared by every worker). Chosen by ``type``; an unknown type fails
with the list of valid ones.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from streamproc.config.base import StrictModel

WEEK_S = 7 * 24 * 3600
REDIS_URL_FORM = "redis://host:port/db (password in state.password), rediss://... or unix:///path"


class EmbeddedStateConfig(StrictModel):
    """A SQLite file: no service to run, survives restarts, shared only by the processes of
    one machine (they serialise their writes on the file lock)."""

    type: Literal["embedded"] = Field(
        "embedded", description="Backend: a SQLite file on this machine."
    )
    path: str = Field(
        "~/.local/state/streamproc/state.db",
        description="SQLite file; `~` is expanded and missing parent folders are created. "
        "`:memory:` keeps the state in this process only (tests).",
    )
    state_ttl_s: int = Field(
        WEEK_S,
        ge=1,
        description="State of a camera not updated for this long is forgotten (cameras that "
        "stop sending). Settings are kept until `streamproc camera reset`.",
    )
    busy_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long a write waits for another process holding the file's write lock "
        "before failing.",
    )


class RedisStateConfig(StrictModel):
    """A redis server shared by every stream worker, so a camera moved to another worker
    during a rebalance continues where it left off."""

    type: Literal["redis"] = Field("redis", description="Backend: a redis server.")
    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis://[user:password@]host:port/db, rediss:// for TLS or unix:///path.",
    )
    password: SecretStr | None = Field(
        None, description="Password; overrides one in the URL (keeps secrets out of the URL)."
    )
    tls: bool = Field(False, description="Connect with TLS (same as a rediss:// URL).")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        """Fail at load time, naming the problem, not with a traceback when connecting."""
        try:
            parts = urlsplit(url)
            port = parts.port  # raises ValueError for a port that is not a number
        except ValueError as e:
            raise ValueError(f"not a valid redis URL ({e}); expected {REDIS_URL_FORM}") from None
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"expected {REDIS_URL_FORM}, got the scheme {parts.scheme!r}")
        if parts.scheme == "unix":
            if not parts.path:
                raise ValueError("a unix:// redis URL needs a socket path: unix:///path/redis.sock")
            return url
        if not parts.hostname:
            raise ValueError(f"the redis URL names no host; expected {REDIS_URL_FORM}")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"the redis port must be 1-65535, got {port}")
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ValueError(f"the redis database must be a number (/0), got {db!r}")
        return url

    key_prefix: str = Field(
        "streamproc",
        min_length=1,
        pattern=r"^\S+$",
        description="Prefix of every key, so several deployments can share one redis.",
    )
    state_ttl_s: int = Field(
        WEEK_S,
        ge=1,
        description="State keys expire this long after their last write (cameras that stop "
        "sending). Settings never expire; `streamproc camera reset` removes them.",
    )
    connect_timeout_s: float = Field(
        5.0, gt=0, description="Timeout of one connection attempt and of one command."
    )
    retry_deadline_s: float = Field(
        30.0,
        ge=0,
        description="How long to keep retrying an unreachable redis (at start and mid-run) "
        "before failing.",
    )


StateConfig = Annotated[EmbeddedStateConfig | RedisStateConfig, Field(discriminator="type")]
