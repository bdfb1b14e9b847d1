"""The StateStore contract, run against both peers: the embedded SQLite file and the real
redis from scripts/services.sh (marked ``redis``; every test uses its own key prefix)."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr, TypeAdapter, ValidationError

from streamproc.config.state import EmbeddedStateConfig, RedisStateConfig, StateConfig
from streamproc.redaction import redact_url
from streamproc.threshold import (
    CameraSettings,
    CameraState,
    CorruptStateError,
    EmbeddedStateStore,
    IngestPosition,
    OpenAlert,
    RedisStateStore,
    RunningStats,
    StateStore,
    StateStoreError,
    StateUnavailableError,
    embedded,
    make_store,
)


def bump(state: CameraState | None) -> tuple[CameraState, int]:
    """A pure read-modify-write: the kind of update a lost write would show at once."""
    new = (state or CameraState()).model_copy(deep=True)
    new.last_seq += 1
    new.stats.count += 1
    return new, new.last_seq


@dataclass
class RedisEnv:
    url: str
    prefix: str
    raw: redis.Redis

    def config(self, **extra: object) -> RedisStateConfig:
        return RedisStateConfig.model_validate(
            {"url": self.url, "key_prefix": self.prefix, "retry_deadline_s": 5, **extra}
        )


@pytest.fixture
def redis_env(redis_url: str) -> Iterator[RedisEnv]:
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    env = RedisEnv(redis_url, f"test-{uuid.uuid4().hex}", raw)
    try:
        yield env
    finally:
        keys = list(raw.scan_iter(match=f"{env.prefix}:*"))
        if keys:
            raw.delete(*keys)
        raw.close()


@dataclass
class Backend:
    """Opens stores on one backing storage (so reopening is a restart) and closes them."""

    name: str
    factory: Callable[[], StateStore]
    # (camera, "settings" | "state") -> text the CorruptStateError must contain
    corrupt: Callable[[str, str], str]
    opened: list[StateStore] = field(default_factory=list)

    def open(self) -> StateStore:
        store = self.factory()
        self.opened.append(store)
        return store


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "embedded":
        path = tmp_path / "nested" / "state.db"  # parents are created
        cfg = EmbeddedStateConfig(path=str(path))

        def corrupt_row(camera: str, table: str) -> str:
            with contextlib.closing(sqlite3.connect(path)) as conn, conn:
                conn.execute(f"UPDATE {table} SET json = '{{not json' WHERE camera = ?", (camera,))
            return f"{path} table '{table}'"

        b = Backend("embedded", lambda: EmbeddedStateStore(cfg), corrupt_row)
    else:
        env: RedisEnv = request.getfixturevalue("redis_env")
        rcfg = env.config()

        def corrupt_key(camera: str, kind: str) -> str:
            key = f"{env.prefix}:camera:{camera}:{kind}"
            env.raw.set(key, "{not json")
            return key

        b = Backend("redis", lambda: RedisStateStore(rcfg), corrupt_key)
    yield b
    for store in b.opened:
        store.close()


# ---------------------------------------------------------------- contract, both peers


def test_settings_round_trip(backend: Backend) -> None:
    store = backend.open()
    assert store.get_settings("cam") == CameraSettings()
    settings = CameraSettings(
        threshold=0.5,
        threshold_k=3.0,
        roi=[[(0.0, 0.0), (1.0, 0.0), (1.0, 0.5)]],
        exclude=[[(0.1, 0.1), (0.2, 0.1), (0.2, 0.2)]],
    )
    store.set_settings("cam", settings)
    assert store.get_settings("cam") == settings
    assert store.get_state("cam") is None  # settings alone create no state
    store.set_settings("cam", CameraSettings(threshold=0.7))
    assert store.get_settings("cam") == CameraSettings(threshold=0.7)


def test_transact_creates_state_from_none(backend: Backend) -> None:
    store = backend.open()
    seen: list[CameraState | None] = []

    def create(state: CameraState | None) -> tuple[CameraState, str]:
        seen.append(state)
        return CameraState(last_seq=7, last_time=1.5), "created"

    assert store.transact("cam", create) == "created"
    assert seen == [None]
    assert store.get_state("cam") == CameraState(last_seq=7, last_time=1.5)
    assert store.transact("cam", bump) == 8


def test_state_survives_a_restart(backend: Backend) -> None:
    full = CameraState(
        last_seq=41,
        last_time=12.25,
        stats=RunningStats(count=3, mean=0.2, var=0.01),
        decider={"open": True, "recent": [1, 0, 1]},
        alert=OpenAlert(
            event_id="e1",
            start_seq=30,
            start_time=10.0,
            peak_score=0.9,
            last_update_seq=41,
            last_active_seq=40,
            last_active_time=12.0,
        ),
        outbox=[{"kind": "start", "event_id": "e1"}],
    )
    store = backend.open()
    store.transact("cam", lambda _: (full, None))
    store.set_settings("cam", CameraSettings(threshold=2.0))
    store.close()

    reopened = backend.open()
    assert reopened.get_state("cam") == full
    assert reopened.get_settings("cam") == CameraSettings(threshold=2.0)
    assert reopened.cameras() == ["cam"]


def test_a_failing_fn_changes_nothing(backend: Backend) -> None:
    store = backend.open()
    store.transact("cam", bump)

    def broken(state: CameraState | None) -> tuple[CameraState, None]:
        raise RuntimeError("scorer bug")

    with pytest.raises(RuntimeError, match="scorer bug"):  # the caller's error, unwrapped
        store.transact("cam", broken)
    assert store.get_state("cam") == bump(None)[0]
    assert store.transact("cam", bump) == 1  # and the store is still usable


def test_cameras_lists_settings_and_state(backend: Backend) -> None:
    store = backend.open()
    assert store.cameras() == []
    store.set_settings("a", CameraSettings(threshold=1.0))
    store.transact("b", bump)
    store.set_settings("c", CameraSettings())
    store.transact("c", bump)
    assert store.cameras() == ["a", "b", "c"]


def test_delete_removes_settings_and_state(backend: Backend) -> None:
    store = backend.open()
    for camera in ("a", "b"):
        store.set_settings(camera, CameraSettings(threshold=1.0))
        store.transact(camera, bump)
    store.delete("a")
    store.delete("never-seen")  # not an error
    assert store.get_state("a") is None
    assert store.get_settings("a") == CameraSettings()
    assert store.cameras() == ["b"]
    assert store.transact("a", bump) == 0  # starts afresh


def test_concurrent_threads_lose_no_update(backend: Backend) -> None:
    n_tx = 200
    shared = backend.open()
    # Two threads share one store (the object is thread-safe), two have their own
    # connections (updates are atomic across connections).
    stores = [shared, shared, backend.open(), backend.open()]
    start = threading.Barrier(len(stores))

    def work(store: StateStore) -> list[int]:
        start.wait()
        return [store.transact("cam", bump) for _ in range(n_tx)]

    with ThreadPoolExecutor(len(stores)) as pool:
        seen = [r for f in [pool.submit(work, s) for s in stores] for r in f.result(120)]

    final = shared.get_state("cam")
    assert final is not None
    assert final.stats.count == n_tx * len(stores)
    # Every increment was observed by exactly one caller: none lost, none applied twice.
    assert sorted(seen) == list(range(n_tx * len(stores)))


def test_corrupt_value_names_where_and_how_to_reset(backend: Backend) -> None:
    store = backend.open()
    store.set_settings("cam", CameraSettings(threshold=1.0))
    store.transact("cam", bump)

    where = backend.corrupt("cam", "state")
    for call in (lambda: store.get_state("cam"), lambda: store.transact("cam", bump)):
        with pytest.raises(CorruptStateError) as info:
            call()
        assert where in str(info.value)
        assert "streamproc camera reset cam" in str(info.value)
    assert isinstance(info.value, StateStoreError)

    where = backend.corrupt("cam", "settings")
    with pytest.raises(CorruptStateError, match="streamproc camera reset cam") as info:
        store.get_settings("cam")
    assert where in str(info.value)

    store.delete("cam")  # the way out works
    assert store.get_state("cam") is None
    assert store.get_settings("cam") == CameraSettings()


def test_ingest_positions_round_trip_survive_a_restart_and_go_with_delete(
    backend: Backend,
) -> None:
    store = backend.open()
    assert store.get_position("cam") is None
    pos = IngestPosition(stream="s1", fingerprint="fp", last_seq=11, resume_seq=3, resume_index=6)
    store.set_position("cam", pos)
    store.set_position("cam", pos.model_copy(update={"last_seq": 15}))  # overwritten
    store.close()
    store = backend.open()
    assert store.get_position("cam") == pos.model_copy(update={"last_seq": 15})
    assert store.cameras() == []  # a position alone does not make a camera with state

    where = backend.corrupt("cam", "position")
    with pytest.raises(CorruptStateError, match="streamproc camera reset cam") as info:
        store.get_position("cam")
    assert where in str(info.value)
    store.delete("cam")
    assert store.get_position("cam") is None


# ---------------------------------------------------------------- embedded only


def _bump_in_process(path: str, n: int) -> None:
    store = EmbeddedStateStore(EmbeddedStateConfig(path=path))
    try:
        for _ in range(n):
            store.transact("cam", bump)
    finally:
        store.close()


def test_embedded_two_processes_lose_no_update(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    n_tx = 200
    # spawn: a fresh interpreter, as a second worker on the machine would be; the two
    # also race to create the file and its tables.
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_bump_in_process, args=(path, n_tx)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]

    store = EmbeddedStateStore(EmbeddedStateConfig(path=path))
    state = store.get_state("cam")
    store.close()
    assert state is not None
    assert (state.stats.count, state.last_seq) == (2 * n_tx, 2 * n_tx - 1)


def _rows(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [r[0] for r in conn.execute("SELECT camera FROM state ORDER BY camera")]


def test_embedded_forgets_stale_state_and_purges_it_on_open(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    cfg = EmbeddedStateConfig(path=str(path), state_ttl_s=10)
    now = [1000.0]
    store = EmbeddedStateStore(cfg, clock=lambda: now[0])
    store.transact("old", bump)
    store.set_settings("configured", CameraSettings(threshold=1.0))
    store.transact("configured", bump)
    store.set_position("old", IngestPosition(stream="s", fingerprint="f"))
    now[0] = 1008.0
    store.transact("fresh", bump)

    now[0] = 1012.0  # "old" and "configured" were last written 12 s ago, ttl 10 s
    assert store.get_state("old") is None
    assert store.get_state("configured") is None
    assert store.get_state("fresh") is not None
    assert store.get_settings("configured") == CameraSettings(threshold=1.0)  # settings stay
    assert store.get_position("old") is None  # positions expire like state
    assert store.cameras() == ["configured", "fresh"]
    assert _rows(path) == ["configured", "fresh", "old"]  # forgotten, not yet purged
    store.close()

    store = EmbeddedStateStore(cfg, clock=lambda: now[0])
    assert _rows(path) == ["fresh"]
    assert store.transact("old", bump) == 0  # a returning camera starts afresh
    store.close()


def test_embedded_purges_every_n_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "PURGE_EVERY", 2)
    path = tmp_path / "state.db"
    now = [0.0]
    store = EmbeddedStateStore(
        EmbeddedStateConfig(path=str(path), state_ttl_s=5), clock=lambda: now[0]
    )
    store.transact("old", bump)  # write 1
    now[0] = 6.0
    store.transact("new", bump)  # write 2: purges
    assert _rows(path) == ["new"]
    store.close()


def test_embedded_expands_home_and_supports_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = EmbeddedStateStore(EmbeddedStateConfig())
    assert Path(store.path) == tmp_path / ".local/state/streamproc/state.db"
    assert Path(store.path).exists()
    store.close()

    memory = EmbeddedStateStore(EmbeddedStateConfig(path=":memory:"))
    memory.transact("cam", bump)
    assert memory.cameras() == ["cam"]
    memory.close()


def test_embedded_names_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_text("not sqlite " * 200)
    with pytest.raises(StateStoreError, match=str(path)):
        EmbeddedStateStore(EmbeddedStateConfig(path=str(path)))


# ---------------------------------------------------------------- redis only


@pytest.mark.redis
def test_redis_state_expires_settings_do_not(redis_env: RedisEnv) -> None:
    store = RedisStateStore(redis_env.config(state_ttl_s=60))
    try:
        store.set_settings("cam", CameraSettings(threshold=1.0))
        store.transact("cam", bump)
        assert 0 < redis_env.raw.ttl(store.state_key("cam")) <= 60
        assert redis_env.raw.ttl(store.settings_key("cam")) == -1  # no expiry

        redis_env.raw.expire(store.state_key("cam"), 5)
        store.transact("cam", bump)  # every write refreshes the ttl
        assert redis_env.raw.ttl(store.state_key("cam")) > 5
        store.set_position("cam", IngestPosition(stream="s", fingerprint="f"))
        assert 0 < redis_env.raw.ttl(store.position_key("cam")) <= 60
    finally:
        store.close()


@pytest.mark.redis
def test_redis_cameras_prunes_ids_whose_keys_expired(redis_env: RedisEnv) -> None:
    store = RedisStateStore(redis_env.config())
    try:
        store.transact("live", bump)
        store.transact("gone", bump)
        redis_env.raw.pexpire(store.state_key("gone"), 1)
        time.sleep(0.05)
        assert store.cameras() == ["live"]
        assert redis_env.raw.smembers(store.cameras_key) == {"live"}
    finally:
        store.close()


@pytest.mark.redis
def test_redis_survives_a_killed_connection(redis_env: RedisEnv) -> None:
    store = RedisStateStore(redis_env.config())
    try:
        store.transact("cam", bump)
        # Kill only this store's pooled connection: the shared redis has other users.
        conn_id = store._client.client_id()
        assert redis_env.raw.client_kill_filter(_id=str(conn_id)) == 1
        assert store.transact("cam", bump) == 1
    finally:
        store.close()


@pytest.mark.redis
def test_redis_retries_drops_until_the_deadline(
    redis_env: RedisEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    drops = [2]
    real_watch = redis.client.Pipeline.watch

    def flaky_watch(self: redis.client.Pipeline, *names: str) -> None:
        if drops[0]:
            drops[0] -= 1
            raise redis.ConnectionError("simulated drop")
        real_watch(self, *names)

    monkeypatch.setattr(redis.client.Pipeline, "watch", flaky_watch)
    store = RedisStateStore(redis_env.config(retry_deadline_s=0.3))
    try:
        assert store.transact("cam", bump) == 0  # two drops, then success
        assert drops == [0]
        drops[0] = 10**9
        t0 = time.monotonic()
        with pytest.raises(StateUnavailableError, match="simulated drop"):
            store.transact("cam", bump)
        assert 0.3 <= time.monotonic() - t0 < 2
    finally:
        store.close()


def test_unreachable_redis_fails_fast_with_a_masked_url() -> None:
    cfg = RedisStateConfig(
        url="redis://app:hunter2@127.0.0.1:1/0",
        password=SecretStr("s3cret"),
        retry_deadline_s=0.3,
        connect_timeout_s=0.5,
    )
    t0 = time.monotonic()
    with pytest.raises(StateUnavailableError) as info:
        RedisStateStore(cfg)
    assert time.monotonic() - t0 < 3
    message = str(info.value)
    assert "redis://app:***@127.0.0.1:1/0" in message
    assert "hunter2" not in message and "s3cret" not in message
    assert "redis-server" in message  # says what to check


def test_redis_urls_are_masked_with_the_one_rule() -> None:
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact_url("rediss://:pw@h:1/2") == "rediss://:***@h:1/2"
    assert redact_url("redis://h:1/0?password=pw&db=1") == "redis://h:1/0?password=***&db=1"


# ---------------------------------------------------------------- config and factory


def test_make_store_picks_the_backend_by_type(tmp_path: Path) -> None:
    adapter: TypeAdapter[StateConfig] = TypeAdapter(StateConfig)
    cfg = adapter.validate_python({"type": "embedded", "path": str(tmp_path / "s.db")})
    store = make_store(cfg)
    assert isinstance(store, EmbeddedStateStore)
    store.close()

    with pytest.raises(ValidationError, match="'embedded', 'redis'"):
        adapter.validate_python({"type": "sqlite"})
    with pytest.raises(ValidationError, match="urll"):  # a typo is an error, not a default
        adapter.validate_python({"type": "redis", "urll": "redis://h"})
    secret = adapter.validate_python({"type": "redis", "password": "pw"})
    assert "pw" not in repr(secret)
