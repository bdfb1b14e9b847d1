"""The redis peer of the state store: every stream worker shares one redis, so a camera
moved to another worker during a Kafka rebalance continues exactly where it left off.

Keys (``P`` = ``key_prefix``, ``ID`` = camera id; values are JSON of the models in
``threshold/base.py``):

| Key                     | Type   | Value            | Expires                                   |
|-------------------------|--------|------------------|-------------------------------------------|
| `P:camera:ID:settings`  | string | `CameraSettings` | never (operator intent); `delete` removes |
| `P:camera:ID:state`     | string | `CameraState`    | `state_ttl_s` after its last write        |
| `P:camera:ID:position`  | string | `IngestPosition` | `state_ttl_s` after its last write        |
| `P:cameras`             | set    | camera ids       | never; ids whose two keys are both gone   |
|                         |        |                  | are pruned by `cameras()`                 |

``transact`` is an optimistic transaction: WATCH the state key, GET it, run ``fn``, then
MULTI / SET EX / SADD / EXEC. If another writer changed the key in between, EXEC fails and
``fn`` runs again on the newer state, so racing workers never lose an update. (A Lua
script would be atomic too, but cannot run ``fn``, which is Python.) One transaction
touches the camera's state key and the shared ``P:cameras`` set, so this needs a
standalone redis (or one behind a proxy), not Redis Cluster, which rejects cross-slot
transactions.

Connection errors and timeouts are retried with jittered exponential backoff until
``retry_deadline_s`` has passed since the first failure, at construction and in every
call, then ``StateUnavailableError`` is raised. redis-py's own retries are switched off so
that this deadline is the only one. Messages show the URL with its password masked.
redis-py drops a connection that failed and its pool opens a new one on the next call, so
after an outage of any length the next call works again; the store reports to
``streamproc.dependencies`` while redis does not answer (``/readyz``, the
``streamproc_dependency_unreachable_seconds`` gauge).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from pydantic import BaseModel, ValidationError
from redis.backoff import NoBackoff
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import AuthenticationError, AuthorizationError, RedisError, WatchError
from redis.retry import Retry

from streamproc.config.state import RedisStateConfig
from streamproc.dependencies import DEPENDENCIES
from streamproc.redaction import redact_url
from streamproc.threshold.base import CameraSettings, CameraState, IngestPosition
from streamproc.threshold.errors import CorruptStateError, StateStoreError, StateUnavailableError

R = TypeVar("R")
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

# Conflicts only happen while two workers own one camera (a rebalance); 100 lost races in a
# row means something keeps writing the camera, which retrying will not fix.
WATCH_ATTEMPTS = 100
_CONFLICT_BACKOFF_CAP_S = 0.05
_BACKOFF_FIRST_S = 0.05
_BACKOFF_CAP_S = 2.0
REDIS = "redis"  # the service's name in streamproc.dependencies

# Removes ids from the cameras set only if both their keys are still gone, atomically, so a
# camera written between listing and pruning is kept. KEYS[1] = the set; KEYS[2i] and
# KEYS[2i+1] = settings and state key of ARGV[i].
_PRUNE = """
for i, id in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[2 * i], KEYS[2 * i + 1]) == 0 then
    redis.call('SREM', KEYS[1], id)
  end
end
return 0
"""


class RedisStateStore:
    """``StateStore`` on a redis server; safe to share between threads (pooled connections)."""

    def __init__(self, cfg: RedisStateConfig) -> None:
        self._cfg = cfg
        self._reporting = False  # a store that never started is no outage for /readyz
        self.url = redact_url(cfg.url)
        try:
            options: dict[str, Any] = parse_url(cfg.url)
        except ValueError as e:
            raise StateStoreError(f"invalid redis URL {self.url}: {e}") from None
        if cfg.password is not None:
            options["password"] = cfg.password.get_secret_value()
        if cfg.tls:
            if options.get("connection_class") is UnixDomainSocketConnection:
                raise StateStoreError(f"tls is set but {self.url} is a unix socket; unset tls")
            options["connection_class"] = SSLConnection
        defaults: dict[str, Any] = {
            "socket_connect_timeout": cfg.connect_timeout_s,
            "socket_timeout": cfg.connect_timeout_s,
            "retry": Retry(NoBackoff(), 0),
        }
        # Options in the URL's query string are the more specific, so they win.
        self._pool = redis.ConnectionPool(**{**defaults, **options, "decode_responses": True})
        self._client = redis.Redis(connection_pool=self._pool)
        self._prune = self._client.register_script(_PRUNE)
        self.cameras_key = f"{cfg.key_prefix}:cameras"
        self._retrying("connect", self._client.ping)
        self._reporting = True

    def settings_key(self, camera: str) -> str:
        return f"{self._cfg.key_prefix}:camera:{camera}:settings"

    def state_key(self, camera: str) -> str:
        return f"{self._cfg.key_prefix}:camera:{camera}:state"

    def position_key(self, camera: str) -> str:
        return f"{self._cfg.key_prefix}:camera:{camera}:position"

    def get_settings(self, camera: str) -> CameraSettings:
        key = self.settings_key(camera)
        raw = self._retrying(f"read {key}", lambda: self._client.get(key))
        settings = _decode(CameraSettings, raw, f"redis key {key!r} at {self.url}", camera)
        return settings if settings is not None else CameraSettings()

    def set_settings(self, camera: str, settings: CameraSettings) -> None:
        def write() -> None:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.set(self.settings_key(camera), settings.model_dump_json())
                pipe.sadd(self.cameras_key, camera)
                pipe.execute()

        self._retrying(f"write {self.settings_key(camera)}", write)

    def get_state(self, camera: str) -> CameraState | None:
        key = self.state_key(camera)
        raw = self._retrying(f"read {key}", lambda: self._client.get(key))
        return _decode(CameraState, raw, f"redis key {key!r} at {self.url}", camera)

    def transact(self, camera: str, fn: Callable[[CameraState | None], tuple[CameraState, R]]) -> R:
        """Atomically read the camera's state, apply ``fn`` and write what it returns.

        ``fn`` runs again if another writer raced it (it must be pure), and after a
        connection drop: if that drop hid a successful EXEC, ``fn`` sees its own write."""
        return self._retrying(
            f"update {self.state_key(camera)}", lambda: self._transact_once(camera, fn)
        )

    def _transact_once(
        self, camera: str, fn: Callable[[CameraState | None], tuple[CameraState, R]]
    ) -> R:
        key = self.state_key(camera)
        with self._client.pipeline(transaction=True) as pipe:
            for attempt in range(WATCH_ATTEMPTS):
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)  # immediate while watching, not queued
                    current = _decode(CameraState, raw, f"redis key {key!r} at {self.url}", camera)
                    new, result = fn(current)
                    pipe.multi()
                    pipe.set(key, new.model_dump_json(), ex=self._cfg.state_ttl_s)
                    pipe.sadd(self.cameras_key, camera)
                    pipe.execute()
                    return result
                except WatchError:
                    # Jitter so the racing writers stop colliding in lockstep.
                    cap = min(0.001 * 2**attempt, _CONFLICT_BACKOFF_CAP_S)
                    time.sleep(random.uniform(0, cap))
        raise StateStoreError(
            f"gave up updating {key!r} at {self.url} after {WATCH_ATTEMPTS} conflicting writes: "
            f"something keeps writing camera {camera!r}. Check that each camera is consumed by "
            "one stream worker at a time."
        )

    def get_position(self, camera: str) -> IngestPosition | None:
        key = self.position_key(camera)
        raw = self._retrying(f"read {key}", lambda: self._client.get(key))
        return _decode(IngestPosition, raw, f"redis key {key!r} at {self.url}", camera)

    def set_position(self, camera: str, position: IngestPosition) -> None:
        key = self.position_key(camera)
        value = position.model_dump_json()
        self._retrying(
            f"write {key}", lambda: self._client.set(key, value, ex=self._cfg.state_ttl_s)
        )

    def cameras(self) -> list[str]:
        """Cameras with state or settings, sorted; prunes ids whose keys have expired."""

        def list_and_prune() -> list[str]:
            ids = sorted(str(i) for i in self._client.smembers(self.cameras_key))
            if not ids:
                return []
            pipe = self._client.pipeline(transaction=False)
            for camera in ids:
                pipe.exists(self.settings_key(camera), self.state_key(camera))
            counts = pipe.execute()
            stale = [c for c, n in zip(ids, counts, strict=True) if n == 0]
            if stale:
                keys = [k for c in stale for k in (self.settings_key(c), self.state_key(c))]
                self._prune(keys=[self.cameras_key, *keys], args=stale)
            return [c for c, n in zip(ids, counts, strict=True) if n > 0]

        return self._retrying(f"list {self.cameras_key}", list_and_prune)

    def delete(self, camera: str) -> None:
        def remove() -> None:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(
                    self.settings_key(camera), self.state_key(camera), self.position_key(camera)
                )
                pipe.srem(self.cameras_key, camera)
                pipe.execute()

        self._retrying(f"delete camera {camera!r}", remove)

    def close(self) -> None:
        DEPENDENCIES.forget(self)
        self._client.close()
        # The pool was passed in, so Redis.close() leaves its connections open.
        self._pool.disconnect()

    def _retrying(self, what: str, op: Callable[[], T]) -> T:
        """Run ``op``, retrying connection errors until the deadline; wrap redis errors."""
        deadline: float | None = None
        delay = _BACKOFF_FIRST_S
        while True:
            try:
                result = op()
            except (AuthenticationError, AuthorizationError) as e:  # retrying cannot fix these
                raise StateStoreError(
                    f"redis at {self.url} refused the credentials ({what}): {e}. Check the "
                    "state store's password (or the URL's) and the user's ACL."
                ) from e
            except (redis.ConnectionError, redis.TimeoutError) as e:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._cfg.retry_deadline_s
                    if self._reporting:
                        DEPENDENCIES.failed(REDIS, self, f"{type(e).__name__}: {e}")
                if now >= deadline:
                    raise StateUnavailableError(
                        f"cannot reach redis at {self.url} ({what}) after retrying for "
                        f"{self._cfg.retry_deadline_s:g}s ({type(e).__name__}: "
                        f"{str(e).rstrip('.')}). Check that redis-server runs and is reachable "
                        "from here, and the state store's url, password and tls settings "
                        '(locally: `eval "$(scripts/services.sh start)"`).'
                    ) from e
                # Equal jitter: workers that lost redis together do not return in lockstep.
                time.sleep(min(delay / 2 + random.uniform(0, delay / 2), deadline - now))
                delay = min(delay * 2, _BACKOFF_CAP_S)
            except RedisError as e:
                raise StateStoreError(f"redis at {self.url} failed to {what}: {e}") from e
            else:
                if self._reporting:
                    DEPENDENCIES.answered(REDIS, self)
                return result


def _decode(model: type[M], raw: str | bytes | None, where: str, camera: str) -> M | None:
    if raw is None:
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as e:
        raise CorruptStateError.for_value(where, camera, e) from None
