"""The transport section: which broker carries frame windows, scores and alerts.

``type: memory`` is the embedded in-process broker (one machine, nothing to run);
``type: kafka`` is a real cluster reached with kafka-python. The Kafka settings are
turned into client keyword arguments in one place, ``kafka_*_kwargs`` below, so the
backend never reads config fields one by one (the quix-streams pattern).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, model_validator

from streamproc.config.base import StrictModel

# Kafka's own rule for topic names (legal characters, at most 249 of them).
TOPIC_NAME = r"^[A-Za-z0-9._-]{1,249}$"
SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")


class MemoryTransportConfig(StrictModel):
    """In-process broker: the embedded single-machine default, a full peer of Kafka."""

    type: Literal["memory"] = Field("memory", description="Embedded in-process broker.")
    partitions: int = Field(
        12, ge=1, le=1000, description="Partitions per topic; workers of a group split them."
    )
    max_messages_per_partition: int | None = Field(
        256,
        ge=1,
        description="Oldest messages beyond this many per partition are dropped, even if no "
        "group has committed them (a consumer that far behind skips ahead, with a warning). "
        "A raw gray window is ~0.8 MB, so 256 bounds a partition near 200 MB. null = unbounded.",
    )
    max_message_bytes: int | None = Field(
        1_048_576,
        ge=1_024,
        description="Largest message (value + key + headers) accepted, mirroring Kafka's "
        "max_request_size so what runs embedded also fits Kafka. null = no limit.",
    )


class KafkaTransportConfig(StrictModel):
    """A Kafka cluster. Topics are created by ``ensure_topics`` (auto-creation may be off)."""

    type: Literal["kafka"] = Field("kafka", description="Real Kafka cluster via kafka-python.")
    bootstrap_servers: str = Field(
        "127.0.0.1:9092", min_length=1, description="Comma-separated host:port list."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism; required with SASL_PLAINTEXT / SASL_SSL."
    )
    sasl_username: str | None = Field(None, description="SASL user; required with SASL_*.")
    sasl_password: SecretStr | None = Field(
        None, description="SASL password; required with SASL_*. Never printed."
    )
    ssl_cafile: str | None = Field(None, description="CA bundle that signed the brokers' certs.")
    ssl_certfile: str | None = Field(None, description="Client certificate (mutual TLS).")
    ssl_keyfile: str | None = Field(None, description="Private key of ssl_certfile.")
    client_id_prefix: str = Field(
        "streamproc", min_length=1, description="Client ids are <prefix>-<role> in broker logs."
    )
    connect_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long to keep retrying (exponential backoff) an unreachable broker "
        "when a client starts, before failing. A running producer whose client had to be "
        "replaced tries again on its next call after such a failure, however long the outage.",
    )
    request_timeout_ms: int = Field(
        30_000, ge=1_000, le=300_000, description="Timeout of one broker request."
    )
    max_block_ms: int = Field(
        10_000,
        ge=100,
        description="How long send() may block waiting for topic metadata (a missing topic "
        "fails after this) or for buffer space.",
    )
    delivery_timeout_ms: int = Field(
        120_000,
        ge=1_000,
        description="Upper bound on retries of one message; flush() fails after this.",
    )
    max_request_size: int = Field(
        1_048_576,
        ge=1_024,
        description="Largest produce request in bytes. Raise it for colour or large windows; "
        "the broker's message.max.bytes must allow it too.",
    )
    linger_ms: int = Field(
        5, ge=0, le=10_000, description="Wait this long to batch messages to one partition."
    )
    # kafka-python ships only gzip; snappy, lz4 and zstd need python-snappy, lz4 or
    # zstandard installed, which streamproc does not depend on.
    compression_type: Literal["gzip"] | None = Field(
        None, description="Producer compression: null or gzip (costly on raw pixels)."
    )
    session_timeout_ms: int = Field(
        10_000,
        ge=6_000,  # the broker's default group.min.session.timeout.ms
        le=300_000,
        description="A consumer silent this long is dropped and its partitions reassigned.",
    )
    heartbeat_interval_ms: int = Field(
        1_000,
        ge=100,
        description="Consumer heartbeat period; also how fast members notice a rebalance.",
    )
    max_poll_interval_ms: int = Field(
        300_000,
        ge=1_000,
        description="Most time between two polls before a consumer leaves its group; also "
        "how long a rebalance waits for every member to rejoin.",
    )
    partitions: int = Field(
        12, ge=1, le=10_000, description="Partitions of topics that ensure_topics creates."
    )
    replication: int = Field(
        1, ge=1, le=32, description="Replication factor of topics that ensure_topics creates."
    )
    min_insync_replicas: int | None = Field(
        None,
        ge=1,
        le=32,
        description="min.insync.replicas of created topics (null = the broker default): "
        "with acks=all a write counts once this many replicas have it. Production: "
        "replication 3 and 2 here, so one broker down loses nothing and blocks nothing.",
    )
    retention_ms: int | None = Field(
        None, ge=1, description="retention.ms of created topics; null = the broker default."
    )

    @model_validator(mode="after")
    def _check_security(self) -> KafkaTransportConfig:
        sasl_keys = {
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_username": self.sasl_username,
            "sasl_password": self.sasl_password,
        }
        if self.security_protocol in SASL_PROTOCOLS:
            missing = [k for k, v in sasl_keys.items() if v is None]
            if missing:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs {', '.join(missing)}"
                )
        else:
            # A credential that would be silently ignored is almost always a mistake.
            stray = [k for k, v in sasl_keys.items() if v is not None]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set but security_protocol is {self.security_protocol}; "
                    f"use SASL_PLAINTEXT or SASL_SSL, or remove them"
                )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("ssl_keyfile is set without ssl_certfile")
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError(
                f"heartbeat_interval_ms ({self.heartbeat_interval_ms}) must be below "
                f"session_timeout_ms ({self.session_timeout_ms})"
            )
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication:
            raise ValueError(
                f"min_insync_replicas ({self.min_insync_replicas}) must not exceed replication "
                f"({self.replication}): every write would be refused"
            )
        if self.delivery_timeout_ms < self.linger_ms + self.request_timeout_ms:
            raise ValueError(
                f"delivery_timeout_ms ({self.delivery_timeout_ms}) must be at least "
                f"linger_ms + request_timeout_ms ({self.linger_ms + self.request_timeout_ms})"
            )
        return self


TransportConfig = Annotated[
    MemoryTransportConfig | KafkaTransportConfig, Field(discriminator="type")
]


class TopicsConfig(StrictModel):
    """Topic names; the same on either transport."""

    frames: str = Field(
        "streamproc.frames", pattern=TOPIC_NAME, description="Frame windows, keyed by camera."
    )
    scores: str = Field(
        "streamproc.scores", pattern=TOPIC_NAME, description="Per-frame scores, keyed by camera."
    )
    alerts: str = Field(
        "streamproc.alerts", pattern=TOPIC_NAME, description="Alert open/close events."
    )
    dead_letter: str = Field(
        "streamproc.dead-letter",
        pattern=TOPIC_NAME,
        description="Messages that could not be decoded, with the reason in a header.",
    )
    publish_scores: bool = Field(
        False, description="Also publish every frame score (for dashboards; more traffic)."
    )

    @classmethod
    def for_run(cls, prefix: str, run: str) -> TopicsConfig:
        """Topics of their own for one run (benchmarks, tests): PREFIX.RUN.frames, ...,
        with every score published."""
        return cls(
            frames=f"{prefix}.{run}.frames",
            scores=f"{prefix}.{run}.scores",
            alerts=f"{prefix}.{run}.alerts",
            dead_letter=f"{prefix}.{run}.dead-letter",
            publish_scores=True,
        )


def kafka_client_kwargs(cfg: KafkaTransportConfig) -> dict[str, Any]:
    """Settings every kafka-python client (admin, producer, consumer) takes."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in cfg.bootstrap_servers.split(",") if s.strip()],
        "security_protocol": cfg.security_protocol,
        "request_timeout_ms": cfg.request_timeout_ms,
    }
    if cfg.sasl_mechanism is not None:
        kwargs["sasl_mechanism"] = cfg.sasl_mechanism
        kwargs["sasl_plain_username"] = cfg.sasl_username
        if cfg.sasl_password is not None:
            kwargs["sasl_plain_password"] = cfg.sasl_password.get_secret_value()
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        if getattr(cfg, key) is not None:
            kwargs[key] = getattr(cfg, key)
    return kwargs


def kafka_producer_kwargs(cfg: KafkaTransportConfig) -> dict[str, Any]:
    """Producer settings: acks=all with idempotence, so a retry never duplicates a window."""
    return kafka_client_kwargs(cfg) | {
        "client_id": f"{cfg.client_id_prefix}-producer",
        "acks": "all",
        # kafka-python 3.x implements the idempotent producer (and turns it on by default);
        # asking for it explicitly makes a conflicting setting an error, not a silent downgrade.
        "enable_idempotence": True,
        # Retries stay kafka-python's default (unbounded) and are bounded by time instead.
        "delivery_timeout_ms": cfg.delivery_timeout_ms,
        "max_block_ms": cfg.max_block_ms,
        "max_request_size": cfg.max_request_size,
        "linger_ms": cfg.linger_ms,
        "compression_type": cfg.compression_type,
        "allow_auto_create_topics": False,
    }


def kafka_consumer_kwargs(
    cfg: KafkaTransportConfig, group: str, client_id: str | None = None
) -> dict[str, Any]:
    """Consumer settings: offsets are committed explicitly, after results are published."""
    return kafka_client_kwargs(cfg) | {
        "client_id": client_id or f"{cfg.client_id_prefix}-consumer",
        "group_id": group,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": cfg.session_timeout_ms,
        "heartbeat_interval_ms": cfg.heartbeat_interval_ms,
        "max_poll_interval_ms": cfg.max_poll_interval_ms,
        "allow_auto_create_topics": False,
    }
