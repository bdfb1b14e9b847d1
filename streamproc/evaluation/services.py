"""The real Kafka broker and Redis server a benchmark runs against: the addresses
`scripts/services.sh start` exports."""

from __future__ import annotations

import os

from streamproc.errors import ConfigError


def services_env(who: str) -> tuple[str, str]:
    """(STREAMPROC_KAFKA_BOOTSTRAP, STREAMPROC_REDIS_URL); a ConfigError that says how to
    start them when either is unset. ``who``: what needs them, for the message."""
    bootstrap = os.environ.get("STREAMPROC_KAFKA_BOOTSTRAP")
    redis = os.environ.get("STREAMPROC_REDIS_URL")
    if not bootstrap or not redis:
        raise ConfigError(
            f'{who} needs the real services: run `eval "$(bash scripts/services.sh start)"` '
            "first (it sets STREAMPROC_KAFKA_BOOTSTRAP and STREAMPROC_REDIS_URL)"
        )
    return bootstrap, redis
